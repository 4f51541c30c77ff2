/**
 * Recognises the errors that the NATS clients throw. v2 throws NatsError with
 * a `code`; v3 throws one class per failure, told apart by `name`.
 */

/** The connection is closed or draining, so nothing more can be sent. */
export function isClosedConnectionError(error: unknown): boolean {
  const { code, name } = fields(error);
  return (
    code === 'CONNECTION_CLOSED' ||
    code === 'CONNECTION_DRAINING' ||
    code === 'SUB_DRAINING' ||
    name === 'ClosedConnectionError' ||
    name === 'DrainingConnectionError'
  );
}

/** The server rejected the credentials (or their absence). */
export function isAuthorizationError(error: unknown): boolean {
  const { code, name, message } = fields(error);
  return (
    code === 'AUTHORIZATION_VIOLATION' ||
    code === 'AUTHENTICATION_EXPIRED' ||
    code === 'BAD_AUTHENTICATION' ||
    name === 'AuthorizationError' ||
    name === 'UserAuthenticationExpiredError' ||
    /authori[sz]ation/i.test(message)
  );
}

/** The error's message, or its string form for non-errors. */
export function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function fields(error: unknown): { code: unknown; name: unknown; message: string } {
  if (typeof error !== 'object' || error === null) return { code: undefined, name: undefined, message: String(error) };
  const record = error as { code?: unknown; name?: unknown; message?: unknown };
  return { code: record.code, name: record.name, message: typeof record.message === 'string' ? record.message : '' };
}

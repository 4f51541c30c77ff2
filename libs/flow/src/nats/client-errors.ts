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

/**
 * A request found no subscriber on its subject. v2: NatsError code "503";
 * v3: NoRespondersError, or a RequestError whose cause is one.
 */
export function isNoRespondersError(error: unknown): boolean {
  const { code, name, message } = fields(error);
  if (code === '503' || name === 'NoRespondersError' || /no responders/i.test(message)) return true;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== error && isNoRespondersError(cause);
}

/** A request got no reply in time. v2: NatsError code "TIMEOUT"; v3: TimeoutError. */
export function isTimeoutError(error: unknown): boolean {
  const { code, name } = fields(error);
  return code === 'TIMEOUT' || name === 'TimeoutError';
}

import type { U64 } from './bytes';
import { ErrorCode, FlowError } from './errors';
import { ErrFrame, FrameType } from './frame';

/** The ERR frame answering request `id` whose handler failed with `error`. */
export function errorReply(id: U64, error: unknown): ErrFrame {
  const { code, message, details } = (error ?? {}) as { code?: unknown; message?: unknown; details?: unknown };
  return {
    type: FrameType.Err,
    id,
    code: typeof code === 'string' && code.length > 0 ? code : ErrorCode.Remote,
    message: typeof message === 'string' ? message : String(error),
    details: stringifyDetails(details),
  };
}

/** Details travel as JSON text; what cannot be serialised is left out rather than failing the reply. */
function stringifyDetails(details: unknown): string {
  if (details === undefined) return '';
  try {
    return JSON.stringify(details) ?? '';
  } catch {
    return '';
  }
}

/** The inverse of stringifyDetails; foreign text that is not JSON stays a string. */
export function parseDetails(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Wraps anything thrown into a FlowError that says where it came from. `code`
 * names the kind of local failure; a FlowError keeps its own code.
 */
export function asFlowError(error: unknown, what: string, code: ErrorCode): FlowError {
  if (error instanceof FlowError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new FlowError(code, `${what} failed: ${message}`, { cause: error });
}

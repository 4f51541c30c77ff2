/**
 * Flow's error hierarchy. Every error carries a stable string `code` that
 * callers may switch on; the code survives the wire (see ERR frames in
 * docs/PROTOCOL.md), the class does not. ErrorCode is the one list of the
 * codes Flow itself gives; a handler's own codes (`HTTP_400`, ...) pass through.
 */
export const ErrorCode = {
  /** A frame or stream message could not be decoded. */
  Protocol: 'FLOW_PROTOCOL',
  /** An option was missing, of the wrong type or out of bounds. */
  InvalidOption: 'FLOW_INVALID_OPTION',
  /** A request or acknowledgement did not arrive in time. */
  Timeout: 'FLOW_TIMEOUT',
  /** The broker (or transport) is closed or closing. */
  Closed: 'FLOW_CLOSED',
  /** The caller aborted the operation through an AbortSignal. */
  Aborted: 'FLOW_ABORTED',
  /** A bound was reached (pending replies, in-flight forwards, queued messages). */
  Overloaded: 'FLOW_OVERLOADED',
  /** No handler is registered for the stream on the broker that owns the message. */
  NoHandler: 'FLOW_NO_HANDLER',
  /** A remote request handler failed and its failure carried no code of its own. */
  Remote: 'FLOW_REMOTE',
  /** A handler failed with an error that has no string `code` (FlowServer, the dispatcher). */
  Handler: 'FLOW_HANDLER_ERROR',
  /** A Nest RpcException, or what an RPC exception filter produced without a `code`. */
  Rpc: 'FLOW_RPC_ERROR',
  /** A local failure outside any handler: an event listener threw, a stream did not drain. */
  Internal: 'FLOW_INTERNAL',
  /** The transport (NATS) failed to connect or to publish. */
  Transport: 'FLOW_TRANSPORT',
  /** Codec failure while encoding or decoding a stream message. */
  Codec: 'FLOW_CODEC',
  /** A node key or ring position is already live in the clique: another broker has this identity. */
  NodeConflict: 'FLOW_NODE_CONFLICT',
  /** A member hashes partition keys differently (partitionHash) or is a Go broker outside 'go-flow' mode. */
  IncompatibleMember: 'FLOW_INCOMPATIBLE_MEMBER',
  /**
   * The broker that received a request died before it replied: the requester
   * is told at once instead of waiting for its timeout. The handler may or may
   * not have run.
   */
  OwnerLost: 'FLOW_OWNER_LOST',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface FlowErrorOptions {
  cause?: unknown;
}

/** Base class of every error Flow throws or reports. */
export class FlowError extends Error {
  override readonly name: string = 'FlowError';
  readonly code: string;

  constructor(code: string, message: string, options?: FlowErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  /** A plain object for logs and for the wire (code and message only). */
  toJSON(): { name: string; code: string; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** Malformed bytes from the network. `frameType` names what was being decoded. */
export class ProtocolError extends FlowError {
  override readonly name = 'ProtocolError';
  constructor(
    readonly frameType: string,
    reason: string,
    options?: FlowErrorOptions,
  ) {
    super(ErrorCode.Protocol, `malformed ${frameType}: ${reason}`, options);
  }
}

/** An option failed validation. `option` is its dotted path, `value` what was received. */
export class InvalidOptionError extends FlowError {
  override readonly name = 'InvalidOptionError';
  constructor(
    readonly option: string,
    readonly constraint: string,
    readonly value: unknown,
  ) {
    super(ErrorCode.InvalidOption, `invalid option ${option}: ${constraint}, received ${describe(value)}`);
  }
}

export class TimeoutError extends FlowError {
  override readonly name = 'TimeoutError';
  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
    readonly stream?: string,
  ) {
    super(
      ErrorCode.Timeout,
      `${operation}${stream === undefined ? '' : ` on stream "${stream}"`} timed out after ${timeoutMs} ms`,
    );
  }
}

export class ClosedError extends FlowError {
  override readonly name = 'ClosedError';
  constructor(what = 'broker') {
    super(ErrorCode.Closed, `${what} is closed`);
  }
}

export class AbortedError extends FlowError {
  override readonly name = 'AbortedError';
  constructor(operation: string, cause?: unknown) {
    super(ErrorCode.Aborted, `${operation} was aborted`, { cause });
  }
}

export class OverloadedError extends FlowError {
  override readonly name = 'OverloadedError';
  constructor(
    readonly limit: string,
    readonly max: number,
  ) {
    super(ErrorCode.Overloaded, `${limit} limit of ${max} reached`);
  }
}

/**
 * The error a requester sees when the remote handler failed. `code` is the
 * handler's own code (or FLOW_REMOTE when it had none); `details` is whatever
 * structured data the handler attached (validation messages, HTTP status).
 */
export class RemoteError extends FlowError {
  override readonly name = 'RemoteError';
  constructor(
    code: string,
    message: string,
    readonly details?: unknown,
    readonly stream?: string,
  ) {
    super(code, message);
  }
}

export class TransportError extends FlowError {
  override readonly name = 'TransportError';
  constructor(message: string, options?: FlowErrorOptions) {
    super(ErrorCode.Transport, message, options);
  }
}

/** A stream message that the codec could not encode or decode. */
export class CodecError extends FlowError {
  override readonly name = 'CodecError';
  constructor(
    readonly subject: string,
    reason: string,
    options?: FlowErrorOptions,
  ) {
    super(ErrorCode.Codec, `cannot decode stream message on "${subject}": ${reason}`, options);
  }
}

/**
 * A broker identity (`nodeKey`, from `nodeName` or explicit) that is already
 * live in the clique. `key` is the node key or ring position found live.
 */
export class NodeConflictError extends FlowError {
  override readonly name = 'NodeConflictError';
  constructor(
    readonly nodeKey: string,
    readonly nodeName: string | undefined,
    readonly key: string,
    message: string,
  ) {
    super(ErrorCode.NodeConflict, message);
  }
}

/** A member this broker refuses to route to, because ownership would split (see `partitionHash`). */
export class IncompatibleMemberError extends FlowError {
  override readonly name = 'IncompatibleMemberError';
  constructor(
    /** The member's node key (a Go broker's only position). */
    readonly member: string,
    message: string,
  ) {
    super(ErrorCode.IncompatibleMember, message);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * The transport identifier of FlowServer. Handlers declared with
 * `@StreamHandler` carry it, so Nest binds them to FlowServer only.
 */
export const FLOW_TRANSPORT: unique symbol = Symbol('FLOW_TRANSPORT');

/** Key of the Flow settings inside a pattern's extras: `{ flow: FlowHandlerExtras }`. */
export const FLOW_EXTRAS_KEY = 'flow';

/** The kind of stream a handler serves; the wire format differs between the two. */
export const StreamKind = {
  /** Fire-and-forget messages: `@EventPattern` semantics, no reply. */
  Message: 'message',
  /** Request/reply: `@MessagePattern` semantics; the handler's last value is the reply. */
  Request: 'request',
} as const;

export type StreamKind = (typeof StreamKind)[keyof typeof StreamKind];

/** Per-handler Flow settings, stored in the pattern's extras under FLOW_EXTRAS_KEY. */
export interface FlowHandlerExtras {
  readonly kind: StreamKind;
  /** The handler receives the message bytes (a Uint8Array) instead of a deserialized payload. */
  readonly raw: boolean;
}

/** Injection token of the options given to FlowModule.forRoot / forRootAsync. */
export const FLOW_MODULE_OPTIONS: unique symbol = Symbol('FLOW_MODULE_OPTIONS');

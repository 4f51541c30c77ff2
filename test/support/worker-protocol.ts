/**
 * The IPC contract between an end-to-end test (the parent) and a broker
 * worker (a child process running broker-worker.ts). Messages cross Node's IPC
 * channel with `serialization: 'advanced'` (structured clone).
 *
 * Parent -> child: `{ id, command }`. Child -> parent: a `reply` to each
 * command id, and unsolicited `event`s (ring changes, connection status,
 * progress counts), each stamped with the child's wall-clock time.
 */
import type { BrokerCounters } from 'nestjs-flow';
import type { PubSubStatus } from 'nestjs-flow/core';

export interface WorkerNatsConfig {
  /** One URL or a comma-separated list. */
  servers: string;
  token?: string;
  user?: string;
  pass?: string;
  /** PEM file of the CA that signed the server certificate; switches TLS on. */
  caFile?: string;
  /** Milliseconds between reconnect attempts. */
  reconnectWaitMs?: number;
}

export interface WorkerBrokerConfig {
  nodeName?: string;
  nodeKey?: string;
  clique?: string;
  virtualNodes?: number;
  ackTimeout?: number;
  requestTimeout?: number;
  /** Stabilization interval, ms. */
  stabilizationInterval?: number;
  partitionHash?: 'murmur3' | 'go-flow';
  /** BrokerOptions.directRouting (default true). */
  directRouting?: boolean;
}

export interface WorkerConfig {
  nats: WorkerNatsConfig;
  broker: WorkerBrokerConfig;
  /** Message streams this broker handles; every handled message is journaled. */
  messageStreams: readonly string[];
  /** Request streams this broker handles, answering RequestBody modes. */
  requestStreams: readonly string[];
  /** Where the worker journals what it receives and handles (journal.ts has the format). */
  journal: string;
  /** Message handlers finish this many ms after they start (a timer); 0 or absent: synchronous. */
  handlerDelayMs?: number;
}

/** What a request carries, as JSON: how the remote handler should answer. */
export interface RequestBody {
  /**
   * echo: reply with `text` and the handling position; delay: the same after
   * `delayMs`; fail: throw a coded error; silent: never answer.
   */
  mode: 'echo' | 'delay' | 'fail' | 'silent';
  text: string;
  delayMs?: number;
}

/** The JSON reply of an 'echo' request. */
export interface EchoReply {
  text: string;
  /** The ring position that ran the handler. */
  owner: string;
  /** The node key of the broker that ran it. */
  node: string;
}

/** The code, message and details of the error a 'fail' request handler throws. */
export const REJECTION = { code: 'E_REJECTED', message: 'rejected by the test handler' } as const;

export interface PublishSpec {
  stream: string;
  /** Messages to publish, with sequence numbers firstSeq .. firstSeq + count - 1. */
  count: number;
  firstSeq: number;
  /** Message seq carries partition key `${keyPrefix}${seq % keyCount}`. */
  keyCount: number;
  keyPrefix: string;
  /** Messages between flushes (and pauses). */
  batch: number;
  /** Pause after each batch, ms: spreads a stream over time so a test can act during it. */
  pauseMs: number;
  /**
   * Publish a batch without awaiting each publish (all in flight), journaling
   * each one that resolves ('P'), then await the batch. Default: one at a time.
   */
  concurrent?: boolean;
}

export interface PublishResult {
  published: number;
  /** publish() calls that threw (for example while the connection was down). */
  failed: number;
  /** flush() calls that failed. */
  flushFailures: number;
  firstAt: number;
  lastAt: number;
}

export interface WireError {
  name: string;
  code: string | undefined;
  message: string;
  details?: unknown;
}

export type RequestOutcome = { ok: true; reply: EchoReply } | { ok: false; error: WireError; elapsedMs: number };

export interface RingView {
  nodeKey: string;
  positions: string[];
  members: string[];
  joined: boolean;
}

export interface WorkerCounters extends BrokerCounters {
  inFlight: number;
  /** Errors reported through onError, by code. */
  errors: Record<string, number>;
}

export type WorkerCommand =
  | { type: 'start'; config: WorkerConfig }
  | { type: 'snapshot' }
  | { type: 'counters' }
  | { type: 'owner-of'; keys: readonly string[] }
  | { type: 'publish'; spec: PublishSpec }
  | { type: 'requests'; stream: string; timeout: number; items: readonly { key: string; body: RequestBody }[] }
  /** Flush to the server, then wait (bounded) until no handler runs and no forward awaits its ACK. */
  | { type: 'settle'; timeoutMs: number }
  | { type: 'close' }
  | { type: 'shutdown'; timeoutMs: number };

/** What each command resolves to. */
export interface WorkerResults {
  start: RingView;
  snapshot: RingView;
  counters: WorkerCounters;
  'owner-of': (string | null)[];
  publish: PublishResult;
  requests: RequestOutcome[];
  settle: WorkerCounters;
  close: null;
  shutdown: null;
}

export interface CommandMessage {
  id: number;
  command: WorkerCommand;
}

export type WorkerEvent =
  /** The ring changed; `size` is its member count after the change at `at`. */
  | { type: 'ring'; size: number; at: number }
  | { type: 'status'; status: PubSubStatus; at: number }
  /** Throttled counts; `published` counts this worker's publish() calls. */
  | { type: 'progress'; handled: number; received: number; published: number; at: number }
  /** An identity conflict or an incompatible member the broker reported (FLOW_NODE_CONFLICT, FLOW_INCOMPATIBLE_MEMBER). */
  | { type: 'problem'; code: string; message: string; at: number };

export type WorkerMessage =
  | { kind: 'hello'; pid: number }
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: WireError }
  | { kind: 'event'; event: WorkerEvent };

export function toWireError(error: unknown): WireError {
  if (error instanceof Error) {
    const { code, details } = error as { code?: unknown; details?: unknown };
    return {
      name: error.name,
      code: typeof code === 'string' ? code : undefined,
      message: error.message,
      ...(details === undefined ? {} : { details }),
    };
  }
  return { name: 'Error', code: undefined, message: String(error) };
}

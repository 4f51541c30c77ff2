/**
 * Capability announcements: how Flow brokers tell each other, and only each
 * other, which protocol extensions they speak and how they hash partition keys.
 *
 * Carrier. A Flow broker appends an announcement after the payload of every
 * JOIN, INFO and PING it sends. Go flow reads exactly `payloadLength` bytes of
 * a frame and never looks further (`unmarshalFrame` only requires the bytes to
 * be present; `payload()` slices the declared length), on the clique subject
 * and on node subjects alike, so a Go broker sees an ordinary frame. A new
 * frame type would not do: Go flow hands an unknown type to its error handler
 * ("unexpected clique frame type"), which logs to stderr by default.
 *
 * Layout, after the frame's payload (all integers unsigned big-endian):
 *
 * | offset | size | field                                                   |
 * |--------|------|---------------------------------------------------------|
 * | 0      | 4    | magic 'FCAP'                                            |
 * | 4      | 2    | body length L (>= 24); readers skip what they do not know |
 * | 6      | 1    | announcement version (1)                                |
 * | 7      | 1    | hash mode: 0 = 'murmur3', 1 = 'go-flow'                 |
 * | 8      | 2    | virtualNodes of the sender (1..4096)                    |
 * | 10     | 4    | capability bits (Capability)                            |
 * | 14     | 8    | node key of the sender                                  |
 * | 22     | 8    | instance: random per broker start; tells twins apart    |
 *
 * Bytes after the payload that do not start with the magic are ignored, as Go
 * flow ignores them. A later extension adds a Capability bit and, if it needs
 * data, fields after offset 30 (raising L): older readers skip them, and a broker
 * uses the extension with a member only when that member announced the bit.
 */
import { ProtocolError } from './errors';
import { FRAME_HEADER_SIZE } from './frame';
import { Key, KEY_SIZE, PartitionHash } from './key';

/** Named protocol extensions; a member speaks an extension when it announced its bit. */
export const Capability = {
  /** Answers a failed request with an ERR frame (docs/PROTOCOL.md). */
  ErrorReplies: 1 << 0,
  /** Refuses identities that are already live and reports attempts (conflict notices). */
  IdentityCheck: 1 << 1,
  /** Answers handoff queries and waits for previous owners (handoff.ts, docs/PROTOCOL.md "Handoff"). */
  Handoff: 1 << 2,
  /** Answers a member's forward that asks for them with accepted/handled notices instead of an ACK on receipt. */
  ForwardNotices: 1 << 3,
} as const;
export type Capability = (typeof Capability)[keyof typeof Capability];

/** What this version of Flow speaks. */
export const LOCAL_CAPABILITIES = Capability.ErrorReplies | Capability.IdentityCheck | Capability.Handoff | Capability.ForwardNotices;

export interface Announcement {
  readonly nodeKey: Key;
  readonly virtualNodes: number;
  readonly partitionHash: PartitionHash;
  readonly capabilities: number;
  readonly instance: Key;
}

const MAGIC = 0x46434150; // 'FCAP'
const VERSION = 1;
const HEAD = 6;
const BODY = 24;
export const ANNOUNCEMENT_SIZE = HEAD + BODY;
export const MAX_VIRTUAL_NODES = 4096;
const HASH_CODES: readonly PartitionHash[] = ['murmur3', 'go-flow'];

/** True when `member` announced `capability`. */
export function supports(member: Announcement | undefined, capability: Capability): boolean {
  return member !== undefined && (member.capabilities & capability) !== 0;
}

/** Encodes an announcement once; `append` copies it after frames. */
export function encodeAnnouncement(a: Announcement): Uint8Array {
  const out = new Uint8Array(ANNOUNCEMENT_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC);
  view.setUint16(4, BODY);
  out[6] = VERSION;
  out[7] = HASH_CODES.indexOf(a.partitionHash);
  view.setUint16(8, a.virtualNodes);
  view.setUint32(10, a.capabilities >>> 0);
  a.nodeKey.write(out, 14);
  a.instance.write(out, 14 + KEY_SIZE);
  return out;
}

/** A new array: `frame` (exactly one encoded frame, nothing after it) followed by `announcement`. */
export function appendAnnouncement(frame: Uint8Array, announcement: Uint8Array): Uint8Array {
  const out = new Uint8Array(frame.length + announcement.length);
  out.set(frame, 0);
  out.set(announcement, frame.length);
  return out;
}

/**
 * The announcement after the payload of the frame in `data`, undefined when
 * there is none (a Go broker, or foreign trailing bytes). Throws ProtocolError
 * when the magic is there but the rest is malformed. The frame itself has been
 * decoded already, so its header is known to be sound.
 */
export function readAnnouncement(data: Uint8Array): Announcement | undefined {
  if (data.length < FRAME_HEADER_SIZE) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const at = FRAME_HEADER_SIZE + view.getUint32(8);
  if (data.length - at < 4 || view.getUint32(at) !== MAGIC) return undefined;
  if (data.length - at < HEAD) throw new ProtocolError('announcement', 'truncated before its length');
  const length = view.getUint16(at + 4);
  if (length < BODY || length > data.length - at - HEAD) {
    throw new ProtocolError('announcement', `body length ${length} is below ${BODY} or beyond the ${data.length - at - HEAD} bytes present`);
  }
  const body = at + HEAD;
  if (data[body] !== VERSION) throw new ProtocolError('announcement', `unknown version ${data[body]}`);
  const partitionHash = HASH_CODES[data[body + 1]];
  if (partitionHash === undefined) throw new ProtocolError('announcement', `unknown hash mode ${data[body + 1]}`);
  const virtualNodes = view.getUint16(body + 2);
  if (virtualNodes < 1 || virtualNodes > MAX_VIRTUAL_NODES) {
    throw new ProtocolError('announcement', `virtualNodes ${virtualNodes} is outside 1..${MAX_VIRTUAL_NODES}`);
  }
  return {
    partitionHash,
    virtualNodes,
    capabilities: view.getUint32(body + 4),
    nodeKey: Key.read(data, body + 8),
    instance: Key.read(data, body + 8 + KEY_SIZE),
  };
}

import { NO_BYTES, utf8Length, writeUtf8 } from './bytes';
import { InvalidOptionError } from './errors';
import { type Allocate, newBytes } from './frame';
import { Key } from './key';

const INVALID_SUBJECT = /[\s*>]/;
/** A node key as node subjects spell it: 16 lowercase hex digits. */
const NODE_KEY = /^[0-9a-f]{16}$/;

/**
 * The one subject check: returns `value` when it is a non-empty NATS subject
 * without spaces or wildcards; throws InvalidOptionError naming `option` otherwise.
 */
export function checkSubject(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || INVALID_SUBJECT.test(value)) {
    throw new InvalidOptionError(option, 'must be a non-empty NATS subject without spaces or wildcards', value);
  }
  return value;
}

/** The last stream checkStream passed: a publisher mostly publishes to few streams, and the regular expression costs more than the compare. */
let lastValidStream: string | undefined;

/** Returns `stream` when it is a usable NATS subject for a stream; throws InvalidOptionError otherwise. */
export function checkStream(stream: string): string {
  if (stream === lastValidStream) return stream;
  checkSubject('stream', stream);
  lastValidStream = stream;
  return stream;
}

/**
 * Returns `stream` when a handler may be registered on it in `clique`: a usable
 * stream subject (checkStream) that cannot collide with the clique's own
 * subjects, the clique subject itself or a node subject `<clique>.<16 hex
 * digits>`. Anything else below the clique (`<clique>.events`) is a stream, as
 * in Go flow. Throws InvalidOptionError naming the collision otherwise.
 */
export function checkHandlerStream(stream: string, clique: string): string {
  checkStream(stream);
  if (stream === clique) throw new InvalidOptionError('stream', 'must differ from the clique subject', stream);
  if (stream.length === clique.length + 17 && stream.startsWith(`${clique}.`) && NODE_KEY.test(stream.slice(clique.length + 1))) {
    throw new InvalidOptionError('stream', `must not have the form of a node subject (${clique}.<16 hex digits>)`, stream);
  }
  return stream;
}

/**
 * The bytes of a partition key as given to publish/request: UTF-8 for text, as-is for bytes, empty for none.
 * `allocate`: where a text key's bytes go (a broker's slab: a view, not a buffer of its own per message).
 */
export function partitionKeyBytes(key: string | Uint8Array | undefined, allocate: Allocate = newBytes): Uint8Array {
  if (key === undefined) return NO_BYTES;
  if (typeof key === 'string') {
    // utf8Length + writeUtf8: a short ASCII key is written in JS, cheaper than TextEncoder.encode's call into C++.
    const length = utf8Length(key);
    const bytes = allocate(length);
    writeUtf8(key, bytes, 0, length);
    return bytes;
  }
  if (key instanceof Uint8Array) return key;
  throw new InvalidOptionError('key', 'must be a string or a Uint8Array', key);
}

/** The node subject of `key` in `clique`: where its broker receives frames (`<clique>.<16 hex digits>`). */
export function nodeSubject(clique: string, key: Key | string): string {
  return `${clique}.${key}`;
}

/**
 * Node subjects `<clique>.<key>`, cached by the key's high half: an ACK goes
 * out per forwarded message to one of a handful of senders, and each decoded
 * FWD brings a fresh Key whose hex would otherwise be rebuilt every time.
 */
export class NodeSubjects {
  private readonly cache = new Map<number, { readonly lo: number; readonly subject: string }>();

  constructor(private readonly clique: string) {}

  of(key: Key): string {
    const cached = this.cache.get(key.hi);
    if (cached !== undefined && cached.lo === key.lo) return cached.subject;
    const subject = nodeSubject(this.clique, key);
    // Bounded: a clique has far fewer senders; a flood of foreign keys only costs rebuilds.
    if (this.cache.size >= 4096) this.cache.clear();
    this.cache.set(key.hi, { lo: key.lo, subject });
    return subject;
  }
}

/**
 * View answers in parts (docs/PROTOCOL.md, "The ring view"): a view answer
 * lists every ring position, 8 bytes each, so a large clique's answer can
 * exceed the transport's max payload (256 virtual nodes per broker: about
 * 2,000 bytes per broker). The transport would refuse it, and the asker would
 * never learn the ring: a publisher would send every keyed message through
 * the queue group, and a joining broker would start without knowing its
 * previous owners.
 *
 * A question that carries the 'FPAR' trailer (4 bytes, after the PING) takes
 * an answer in parts. Each part is an INFO with the question's id, some of the
 * positions, the whole 'FSTR' trailer, then 'FPAR' u16 index u16 count. The
 * asker applies the positions once it has every part, as it would one answer.
 * A question without the trailer (an earlier Flow version) is answered whole,
 * as before, however large.
 */
import { readU32, U64, writeU32 } from './bytes';
import { ProtocolError } from './errors';
import type { Dispatcher } from './dispatcher';
import { decodeFrame, encodeFrame, FrameType } from './frame';
import type { Key } from './key';
import { KEY_SIZE } from './key';
import type { Membership } from './membership';
import { appendStreams, readStreamsAt, StreamKind, trailerAt, withTrailer } from './publish-wire';
import type { NodeSubjects } from './subjects';

const FPAR = 0x46504152;
/** 'FPAR' u16 index u16 count, after the 'FSTR' trailer of a part. */
const PART_TRAILER = 8;
/** Parts of one answer, at most (a u16 on the wire). */
const MAX_PARTS = 0xffff;
/**
 * Positions an answer in parts may list, at most: what one whole answer fits
 * in NATS's default max payload (1 MiB), 512 brokers of 256 virtual nodes.
 * Beyond it the parts are dropped as malformed, so a faulty or hostile member
 * cannot make an asker hoard keys.
 */
export const MAX_VIEW_POSITIONS = 1 << 17;
/** Answers collected at once, at most: a part of another one drops the oldest. */
export const MAX_COLLECTED_ANSWERS = 2;

/** The view question `ping` (an encoded PING), saying that its asker takes an answer in parts. */
export function askingForParts(ping: Uint8Array): Uint8Array {
  return withTrailer(ping, 4, (out, at) => writeU32(out, at, FPAR));
}

/** True when the view question `data` (a decoded PING) takes an answer in parts. */
export function takesParts(data: Uint8Array): boolean {
  const at = trailerAt(data);
  return data.length - at >= 4 && readU32(data, at) === FPAR;
}

/**
 * The answer to view question `id`: one INFO listing `members` with the
 * 'FSTR' trailer when it fits within `limit` (or no limit is known, or the
 * asker takes no parts: `limit` undefined), else as many parts as the limit
 * needs. When not even one position fits beside the streams, the answer goes
 * whole, and the transport's refusal is reported where it is sent.
 */
export function encodeViewAnswer(id: U64, members: Key[], streams: ReadonlyMap<string, StreamKind>, limit: number | undefined): Uint8Array[] {
  const whole = appendStreams(encodeFrame({ type: FrameType.Info, id, neighbours: members }), streams);
  if (limit === undefined || whole.length <= limit) return [whole];
  const fixed = whole.length - members.length * KEY_SIZE + PART_TRAILER;
  const perPart = Math.floor((limit - fixed) / KEY_SIZE);
  const count = perPart < 1 ? Infinity : Math.ceil(members.length / perPart);
  if (count > MAX_PARTS) return [whole];
  const parts: Uint8Array[] = [];
  for (let index = 0; index < count; index++) {
    const info = appendStreams(encodeFrame({ type: FrameType.Info, id, neighbours: members.slice(index * perPart, (index + 1) * perPart) }), streams);
    parts.push(
      withTrailer(info, PART_TRAILER, (out, at) => {
        writeU32(out, at, FPAR);
        writeU16(out, at + 4, index);
        writeU16(out, at + 6, count);
      }),
    );
  }
  return parts;
}

export interface ViewPart {
  readonly index: number;
  readonly count: number;
}

/** The part a view answer `data` (a decoded INFO) is; undefined for a whole answer. Throws ProtocolError when malformed. */
export function readViewPart(data: Uint8Array): ViewPart | undefined {
  const streams = readStreamsAt(data);
  if (streams === undefined) return undefined;
  const at = streams.end;
  if (data.length - at < 4 || readU32(data, at) !== FPAR) return undefined;
  if (data.length - at < PART_TRAILER) throw new ProtocolError('view answer part', 'truncated');
  const index = (data[at + 4] << 8) | data[at + 5];
  const count = (data[at + 6] << 8) | data[at + 7];
  if (count === 0 || index >= count) throw new ProtocolError('view answer part', `part ${index} of ${count}`);
  return { index, count };
}

/**
 * Collects the parts of answers to open questions: the positions of each,
 * until every part has come. A part repeated is ignored. At most
 * MAX_COLLECTED_ANSWERS answers at once (MAX_VIEW_POSITIONS positions each).
 */
export class ViewParts {
  private readonly answers = new Map<U64, { count: number; got: Set<number>; keys: Key[] }>();

  /**
   * Adds `part` of the answer to `id` with its `positions`: all of the
   * answer's positions once this was its last part, else undefined. Throws
   * ProtocolError (and forgets the answer) when its parts disagree on their
   * count or list more than MAX_VIEW_POSITIONS.
   */
  add(id: U64, part: ViewPart, positions: readonly Key[]): Key[] | undefined {
    let answer = this.answers.get(id);
    if (answer === undefined) {
      // Maps iterate in insertion order: the first is the oldest.
      if (this.answers.size >= MAX_COLLECTED_ANSWERS) this.answers.delete(this.answers.keys().next().value!);
      this.answers.set(id, (answer = { count: part.count, got: new Set(), keys: [] }));
    } else if (answer.count !== part.count) {
      this.answers.delete(id);
      throw new ProtocolError('view answer part', `${part.count} parts where an earlier part said ${answer.count}`);
    }
    if (answer.got.has(part.index)) return undefined;
    if (answer.keys.length + positions.length > MAX_VIEW_POSITIONS) {
      this.answers.delete(id);
      throw new ProtocolError('view answer part', `more than ${MAX_VIEW_POSITIONS} positions`);
    }
    answer.got.add(part.index);
    for (const key of positions) answer.keys.push(key);
    if (answer.got.size < answer.count) return undefined;
    this.answers.delete(id);
    return answer.keys;
  }

  /** The question `id` is no longer open: its parts so far are dropped. */
  forget(id: U64): void {
    this.answers.delete(id);
  }

  clear(): void {
    this.answers.clear();
  }
}

function writeU16(out: Uint8Array, at: number, value: number): void {
  out[at] = value >> 8;
  out[at + 1] = value & 0xff;
}

/** What answering a view question needs from the broker. */
export interface ViewQuestionHost {
  readonly nodeSubjects: NodeSubjects;
  readonly dispatcher: Pick<Dispatcher, 'kinds'>;
  membership(): Membership | undefined;
  maxPayload(): number | undefined;
  send(subject: string, frame: Uint8Array): void;
}

/** A publisher or a joining broker asks for the ring (a PING on `<clique>.view`): all members, and our streams. */
export function answerViewQuestion(host: ViewQuestionHost, data: Uint8Array): void {
  const membership = host.membership();
  if (membership === undefined) return;
  const frame = decodeFrame(data);
  if (frame.type !== FrameType.Ping) throw new ProtocolError(frame.type, 'expected a PING on the view subject');
  const subject = host.nodeSubjects.of(frame.sender);
  // In parts when the asker takes them and one answer would exceed the transport's max payload.
  const limit = takesParts(data) ? host.maxPayload() : undefined;
  for (const answer of encodeViewAnswer(frame.id, [...membership.table.members()], host.dispatcher.kinds(), limit)) host.send(subject, answer);
}

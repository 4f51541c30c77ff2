/**
 * `npm run sim -- --seed S --frames`: one line per delivery on the bus, so
 * that a violation can be followed frame by frame (who sent what to whom,
 * dropped or held back). Node keys print as the broker's name.
 */
import { decodeFrame, FrameType } from '../../src/core/frame';
import { PublishFlags, readNotice, readPublishFlags } from '../../src/core/publish-wire';
import { readOrigin } from '../../src/core/publish-origin';

const text = new TextDecoder();

/** The frame in `data`, in one line; `name` renders a node key or position. */
export function describeFrame(data: Uint8Array, name: (key: string) => string): string {
  let frame;
  try {
    frame = decodeFrame(data);
  } catch {
    return `${data.length} bytes, no frame`;
  }
  switch (frame.type) {
    case FrameType.Fwd: {
      const flags = readPublishFlags(data);
      const origin = flags !== undefined && (flags & PublishFlags.Origin) !== 0 ? readOrigin(data, flags) : undefined;
      const names = origin === undefined ? '' : ` names ${name(String(origin.key))}/${origin.id}`;
      const msg = `key ${text.decode(frame.msg.partitionKey)} data ${JSON.stringify(text.decode(frame.msg.data))}`;
      return `FWD ${frame.id} ackTo ${name(String(frame.ackTo))} ${msg}${flags === undefined ? '' : ` flags ${flags}`}${names}`;
    }
    case FrameType.Ack: {
      const notice = readNotice(data);
      return notice === undefined ? `ACK ${frame.id}` : `ACK ${frame.id} accepted [${notice.accepted.join(' ')}] handled [${notice.handled.join(' ')}]`;
    }
    case FrameType.Err:
      return `ERR ${frame.id} ${frame.code}`;
    case FrameType.Join:
      return `JOIN ${name(String(frame.sender))}`;
    case FrameType.Leave:
      return `LEAV ${name(String(frame.node))}`;
    case FrameType.Info:
      return `INFO ${frame.id} [${frame.neighbours.map((k) => name(String(k))).join(' ')}]`;
    case FrameType.Ping:
      return `PING ${frame.id} from ${name(String(frame.sender))}`;
    case FrameType.Msg:
      return `MSG key ${text.decode(frame.msg.partitionKey)} data ${JSON.stringify(text.decode(frame.msg.data))}`;
  }
}

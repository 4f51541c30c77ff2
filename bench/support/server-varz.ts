import { getJson, type NatsServer } from '../../test/harness/nats-server';

/** A nats-server's counters so far (its monitoring endpoint's /varz): slow consumers, messages in and out. */
export async function serverVarz(server: NatsServer): Promise<{ slowConsumers: number; inMsgs: number; outMsgs: number }> {
  const varz = (await getJson(server.monitorPort!, '/varz')) as { slow_consumers?: number; in_msgs?: number; out_msgs?: number };
  return { slowConsumers: varz.slow_consumers ?? 0, inMsgs: varz.in_msgs ?? Number.NaN, outMsgs: varz.out_msgs ?? Number.NaN };
}

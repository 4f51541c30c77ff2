import { checkAnswered, checkConverged, checkExclusive, checkLost, checkOnce, checkOrder, checkRefused, checkSettled, PROPERTIES, PROPERTY_TEXT } from '../../test/sim/checkers';
import { expectedToHold } from '../../test/sim/expectations';
import { MembershipClass, ScheduleOptions } from '../../test/sim/schedule';
import { describeSchedule, replayCommand, simulate } from '../../test/sim/simulate';
import { emptyTrace, formatTrace, HandlerRun, Trace } from '../../test/sim/trace';

/** Seeds per `npm test`: about 30 s alone on the 2-core CI machine, 1-3 minutes beside the other suites. */
const SEEDS = 1_000;
/** Seeds run again with overloaded owners (schedule.ts, `overload`). */
const OVERLOAD_SEEDS = 300;
/** Seeds run again with a publisher that stops and starts again (schedule.ts, `publisherRestart`). */
const RESTART_SEEDS = 300;
/** Seeds run again with half of the publishes from handling brokers (schedule.ts, `memberPublishers`). */
const MEMBER_SEEDS = 300;
/** Seeds run again with a third of the publishes as keyed requests (schedule.ts, `requests`). */
const REQUEST_SEEDS = 300;
const BLOCK = 100;
const BLOCK_TIMEOUT_MS = 120_000;

function run(instance: string, key: string, seq: number, start: number, end: number, publisher = 0): HandlerRun {
  return { node: instance.split('#')[0], instance, key, publisher, seq, start, end, cut: false };
}

function trace(parts: Partial<Trace>): Trace {
  return { ...emptyTrace(1), endAt: 5_000, ...parts };
}

describe('simulation checkers', () => {
  it('(a) flags a key handled on two brokers at overlapping times, not one after the other or on one broker', () => {
    const overlapping = [run('node-0#1', 'k', 0, 10, 15), run('node-1#1', 'k', 1, 14, 20)];
    expect(checkExclusive(trace({ runs: overlapping }))).toHaveLength(1);
    const handedOver = [run('node-0#1', 'k', 0, 10, 15), run('node-1#1', 'k', 1, 15, 20), run('node-1#1', 'j', 2, 12, 13)];
    expect(checkExclusive(trace({ runs: handedOver }))).toEqual([]);
    const restarted = [run('node-0#1', 'k', 0, 10, 15), run('node-0#2', 'k', 1, 12, 20)];
    expect(checkExclusive(trace({ runs: restarted }))).toHaveLength(1);
  });

  it('(b) flags a message of one publisher and key that starts after a later one, per publisher', () => {
    expect(checkOrder(trace({ runs: [run('n#1', 'k', 1, 10, 11), run('n#1', 'k', 0, 11, 12)] }))).toHaveLength(1);
    const otherPublisher = [run('n#1', 'k', 1, 10, 11, 0), run('n#1', 'k', 0, 11, 12, 1), run('n#1', 'j', 0, 12, 13, 0)];
    expect(checkOrder(trace({ runs: otherPublisher }))).toEqual([]);
  });

  it('(c) flags a resolved publish that no completed run handled; a run cut by a crash does not count', () => {
    const publishes = [
      { publisher: 0, seq: 0, key: 'k', at: 1, outcome: 'resolved' as const },
      { publisher: 0, seq: 1, key: 'k', at: 2, outcome: 'resolved' as const },
      { publisher: 0, seq: 2, key: 'k', at: 3, outcome: 'rejected' as const },
    ];
    const runs = [run('n#1', 'k', 0, 5, 6), { ...run('n#1', 'k', 1, 6, 7), cut: true }];
    expect(checkLost(trace({ publishes, runs }))).toEqual([expect.stringContaining('#1 key k')]);
    // Reported refused after resolving (a count per publisher): not lost silently; another publisher's count does not cover it.
    expect(checkLost(trace({ publishes, runs, refusedLate: [1] }))).toEqual([]);
    expect(checkLost(trace({ publishes, runs, refusedLate: [0, 1] }))).toHaveLength(1);
  });

  it('(e) flags a publish neither resolved nor rejected, and a publisher that keeps publishes at the end', () => {
    const publishes = [
      { publisher: 0, seq: 0, key: 'k', at: 1, outcome: 'resolved' as const },
      { publisher: 1, seq: 0, key: 'k', at: 2, outcome: 'rejected' as const },
    ];
    expect(checkSettled(trace({ publishes, unsettledAtEnd: [0, 0] }))).toEqual([]);
    expect(checkSettled(trace({ publishes, unsettledAtEnd: [0, 2] }))).toEqual(['pub-1 keeps 2 publishes at the end']);
    const pending = [...publishes, { publisher: 0, seq: 1, key: 'j', at: 3, outcome: 'pending' as const }];
    expect(checkSettled(trace({ publishes: pending }))).toEqual([expect.stringContaining('pub-0 #1 key j')]);
  });

  it('(f) flags a publish whose publish() rejected and whose message a completed run handled', () => {
    const publishes = [
      { publisher: 0, seq: 0, key: 'k', at: 1, outcome: 'rejected' as const },
      { publisher: 0, seq: 1, key: 'k', at: 2, outcome: 'rejected' as const },
      { publisher: 0, seq: 2, key: 'k', at: 3, outcome: 'resolved' as const },
    ];
    const runs = [run('n#1', 'k', 0, 5, 6), { ...run('n#1', 'k', 1, 6, 7), cut: true }, run('n#1', 'k', 2, 7, 8)];
    expect(checkRefused(trace({ publishes, runs }))).toEqual([expect.stringContaining('pub-0 #0 key k')]);
  });

  it('(b) and (c) leave requests out: they have no order, and their reply is their answer', () => {
    const runs = [{ ...run('n#1', 'k', 1, 10, 11), request: true as const }, run('n#1', 'k', 0, 11, 12)];
    expect(checkOrder(trace({ runs }))).toEqual([]);
    const publishes = [{ publisher: 0, seq: 2, key: 'k', at: 1, outcome: 'resolved' as const, request: true as const, reply: 'n#1' }];
    expect(checkLost(trace({ publishes }))).toEqual([]);
  });

  it('(g) flags a request resolved with the reply of an instance that completed no run of it, and one refused that ran', () => {
    const asked = (seq: number, outcome: 'resolved' | 'rejected', answer: { reply?: string; code?: string }) => ({
      ...{ publisher: 0, seq, key: 'k', at: 1, outcome, request: true as const },
      ...answer,
    });
    const publishes = [
      asked(0, 'resolved', { reply: 'n#1' }),
      asked(1, 'resolved', { reply: 'n#1' }),
      asked(2, 'resolved', { reply: 'n#2' }),
      asked(3, 'rejected', { code: 'FLOW_OVERLOADED' }),
      asked(4, 'rejected', { code: 'FLOW_TIMEOUT' }),
    ];
    const ran = (seq: number, instance = 'n#1') => ({ ...run(instance, 'k', seq, 5, 6), request: true as const });
    const runs = [ran(0), { ...ran(1), cut: true }, ran(2, 'n#1'), ran(3), ran(4)];
    // #1's only run was cut, #2's reply names another instance, #3 was refused yet ran; #4's timeout is open.
    expect(checkAnswered(trace({ publishes, runs }))).toEqual([
      expect.stringContaining('#1 key k'),
      expect.stringContaining('#2 key k'),
      expect.stringContaining('#3 key k at 1 rejected with FLOW_OVERLOADED'),
    ]);
  });

  it('(h) flags a request whose handler started twice, a run cut by a crash included; a message may', () => {
    const ran = (instance: string, seq: number, cut = false) => ({ ...run(instance, 'k', seq, 5, 6), request: true as const, cut });
    expect(checkOnce(trace({ runs: [ran('n#1', 0), ran('n#1', 1)] }))).toEqual([]);
    expect(checkOnce(trace({ runs: [ran('n#1', 0, true), ran('n#2', 0)] }))).toHaveLength(1);
    expect(checkOnce(trace({ runs: [run('n#1', 'k', 0, 5, 6), run('n#2', 'k', 0, 7, 8)] }))).toEqual([]);
  });

  it('(d) flags rings that differ at the end or longer than the bound after the last change', () => {
    const changes = [{ at: 100, kind: 'crash' as const, node: 'node-1' }];
    const healed = [{ at: 150, converged: false }, { at: 400, converged: true }];
    expect(checkConverged(trace({ changes, rings: healed }))).toEqual([]);
    expect(checkConverged(trace({ changes, rings: [{ at: 150, converged: false }] }))).toHaveLength(1);
    const slow = [{ at: 150, converged: false }, { at: 2_500, converged: false }, { at: 2_600, converged: true }];
    expect(checkConverged(trace({ changes, rings: slow }))).toHaveLength(1);
  });
});

describe('deterministic simulation', () => {
  it('gives identical traces for two runs of one seed, whatever the schedule holds', async () => {
    // Seeds whose schedules hold a crash and frame faults, a close() leave, and a disconnect.
    for (const seed of [3, 37, 747]) {
      const first = await simulate(seed);
      const second = await simulate(seed);
      expect(first.trace.runs.length).toBeGreaterThan(0);
      expect(formatTrace(second.trace)).toBe(formatTrace(first.trace));
    }
    expect(formatTrace((await simulate(4)).trace)).not.toBe(formatTrace((await simulate(3)).trace));
  });

  // Seeds outside 1..SEEDS that once broke a guarantee, each with what went wrong.
  /** A case's schedule options, and whether its publishers must see a publish refused after it resolved. */
  type Case = ScheduleOptions & { refusesLate?: boolean };
  const REGRESSIONS: readonly (readonly [number, string, Case?])[] = [
    // node-2 leaves by shutdown and keeps draining; a LEAV to node-1 is dropped. node-1 relayed k1's messages
    // to node-2, which relayed them back, until node-2 closed: #0 ran about 2,500 times, the rest of k1 never.
    [52981, 'a draining broker whose LEAV a member missed: no relay loop (membership.ts, remindLeft)'],
    // A broker that leaves releases the messages it held for a handoff to their new owner; two of one key,
    // forwarded at once, arrived the other way round.
    [55678, 'held messages released in their order (ordered-release.ts)'],
    [57936, 'held messages released in their order, after a join and a shutdown'],
    // The same by a broker that stays: a joiner took the range of two messages it held.
    [66104, 'held messages that a joiner took over released in their order'],
    // node-3 joined after node-0 crashed, learned node-0's positions from peers' INFO and buried them (LEAV)
    // under their own texts; node-0 restarted and node-3 missed one JOIN: that position stayed buried.
    [65374, "a restarted broker's positions buried before its announcement came back (liveness.ts, exhume)"],
    // pub-0's awaited view questions went unanswered (5 % drops) until an answer came at the very instant its
    // wait ran out; the timeout ran first, and publish #0 of k2 took the queue group and ran after #10.
    [62441, 'a view answer that came with the wait\'s timeout is read first: no queue group, order kept (ring-view.ts, wakeAt)'],
    // node-2's connection was down from 88 to 260 ms; node-0 took k2 over, and node-2 ran k2's messages that
    // reached it meanwhile, one at 250 beside node-0's.
    [88624, 'a disconnected broker starts no handler, and takes its ranges back once reconnected (reconnect-fence.ts)'],
    // node-0's connection was down from 327 to 458 ms; node-3 joined meanwhile and took k0. A fence that only held
    // node-0's lanes back ran k0's waiting message on node-0 beside node-3's: what waited goes to its owner now.
    [79259, "what waited on a disconnected broker goes to the joiner that took its key meanwhile (Handoff.rejoined)"],
    // node-2 came back and forwarded k3's #6, which had waited there, to the joiner node-5; the publisher's #9 and #12
    // then went through node-2, which took #6 for still queued there and relayed them at once: they ran before #6.
    [119267, 'a message moved from its lanes to another owner holds its successors back as a relay does (Acceptor.moved)'],
    // Owners queue 2 messages at most. node-2's connection was down from 441 to 625 ms while node-1 crashed; once
    // back, node-2 sent what had waited in its lanes to the keys' owners now, and one refused k3's #9. node-2
    // ignored the refusal: pub-0, whose publish() had resolved, kept #9 for ever, each retry answered "accepted".
    [634, 'a publish refused after it resolved is refused to its publisher, who counts and reports it (Acceptor.notPlaced)', { overload: true, refusesLate: true }],
    // The same with node-2 down from 216 to 425 ms across a leave: 2 of 5 such publishes kept for ever.
    [967, 'the same, across a leave and a crash', { overload: true, refusesLate: true }],
    // node-5 joined; pub-0's view gave it k1, node-5's gave k1 to node-4, so node-5 relayed #2 (and held #3, #4 behind
    // it, accepted). The relay's FWD was dropped; node-4 kept answering node-5's other forwards, so node-5 waited 8
    // ackTimeouts without a copy, and pub-0, as patient, took node-5 for dead and sent the lane to node-4: node-5's
    // held #4 ran after #10. A forward not accepted is now sent again every ackTimeout while its owner is alive.
    [1477, 'an unanswered forward to a live owner is sent again at once, not after ACK_PATIENCE (OverdueForwards)', { overload: true }],
    // node-2 relayed #3 of k2 to node-1, which had crashed, and node-2's view then gave k2 to node-2 itself. pub-1's
    // retry of #3 reached node-2, which tried to queue a second copy, found its queue full (1) and refused it: pub-1's
    // publish() rejected, and the relay's copy, routed back, ran after #8. A publish relayed from here and not yet
    // accepted is not taken again when its key comes back (Acceptor.take). (Seed 166 with overload, in npm test's
    // range: a retry of a refused publish was relayed to a joiner and ran; a refusal now answers retries the same.)
    [56652, 'a publish relayed from here is not queued a second time when its key comes back here', { overload: true }],
    // node-2 held pub-0's #7 of k1 behind its relay of #5 (to node-4, crashed). node-2 close()d: the relay failed
    // with FLOW_CLOSED, which released #7, and #7 ran on the closing node-2 while #5 went to node-1 and ran after it.
    [148000, 'a relay that fails because its broker closes does not release its successors to run there (Acceptor.notPlaced)'],
    // node-2 relayed pub-0's #3 to node-1 just after node-1 crashed; node-1 restarted under its name, so the relay's
    // FWD was lost while node-1 answered probes. node-2 waited its patience; pub-0 took node-2 for dead after 8
    // unaccepted sends and sent #3 to node-3, whose relay was refused (queue full): rejected, and node-2's copy ran.
    // An unaccepted forward goes again once its owner sent a JOIN after it (OverdueForwards, OwnerSigns.joined).
    [56140, 'an unaccepted forward goes again to an owner that restarted after it was sent', { overload: true }],
    [65900, 'the same, the relay from node-1 to a restarted node-2', { overload: true }],
    // Members now name the publish they relay or move on (flag Origin). node-3 relayed pub-1's #4 of k1 to node-1,
    // whose flapping view sent it back as a member's copy, which node-3, owner again, took: under one name, the
    // records of node-3's relay and of that copy lost #4. A member's copy of a publish relayed here stays apart.
    [76704, "a member's copy of a publish this broker relays itself is kept apart from that relay (Acceptor.take)", { overload: true }],
    // node-1 relayed pub-0's #1 of k1 to node-2, which close()d: the relay failed with FLOW_CLOSED, and node-1, owner
    // next, remembered that as a final refusal and answered every retry with it; #1 and the 3 behind it never ran.
    [90206, 'a relay that fails because its owner closes is no final refusal: the retry runs (Acceptor.refuse)', { overload: true }],
    // node-4 joined while node-2's connection was down, knew node-2's positions from others' INFO but not its
    // announcement, and took it for a Go broker: it relayed pub-0's #0 of k0 to node-2 as a plain FWD, whose ACK on
    // receipt settled it; node-2, its queue full (2), dropped it, and pub-0 was told it was handled. A member not yet
    // announced is asked for notices outside go-flow mode (Forwarder.takesNotices).
    [130441, 'a forward to an owner not announced yet asks for notices: a refusal reaches the publisher (Forwarder)', { overload: true }],
    // Four brokers started together (stable, 5 % drops). node-1 missed three of node-2's JOINs and knew node-2 by
    // its fourth, announcement and all, yet owned the keys of the three positions: at 50 ms it ran pub-1's #1 of k1
    // while node-2 ran pub-0's #0. A Flow member's announcement now puts all its positions on the ring.
    [201018, 'a member known by one position takes all the positions its announcement names (Admission.announcedBy)'],
    // With that, node-2's probes while it drained (it left at 55 ms) put its positions back on node-0's ring each
    // time; the rings flapped and a relay ran round three brokers. A broker that left probes by subscriber only.
    [220714, 'a draining broker probes by subscriber: it stays off the rings (Broker, forwarder probe)'],
    // node-2 crashed with pub-0's #12 of k0 on its way; node-0, which still saw node-2 as its owner, relayed it, then
    // found node-2 dead and owned k0. The relay's retry reached node-2 restarted under its name, which took it, and its
    // acceptance released #16, #18 and #21 held behind it at node-0, which ran them there before node-2 ran #12. A
    // message waiting for one only accepted elsewhere goes on only relayed (Acceptor.release).
    [271338, 'a relay accepted elsewhere releases only relays: what is ours now waits for it to be handled (Acceptor)'],
    // node-2, disconnected, refused pub-0's #11 of k1 (queue full) as it came back; the publisher had taken it for dead
    // and sent #11 on to node-1 when the refusal arrived, rejected the publish, and node-1 ran it. An ERR names the
    // refusing broker, and one the publish has left refused only its own copy (PublishRecovery.refused).
    [223296, 'a refusal by an owner the publish has left does not reject it (PublishRecovery)', { overload: true }],
    // node-1 relayed pub-1's #0 and #2 of k1 to node-2, which drained after a shutdown (and restarted under its
    // name). When node-2 was proven gone, each relay gave up on its own verdict, #2's first: it ran on node-1
    // before #0. Every forward to an owner proven gone gives up together now, the first sent first.
    [240734, 'forwards to an owner proven gone give up together, in the order they were sent (Forwarder.ownerGone)'],
    // pub-0's FWD of #2 (k2) was dropped; node-1 held #3, which named #2, and answered "accepted": publish() resolved.
    // pub-0 crashed before its retry of #2, and node-1 dropped #3 after its patience: a resolved publish lost while its
    // owner lived. A held message is answered only once it is queued (Acceptor.holds).
    [960, 'a message held for its predecessor is not answered "accepted" before it is queued (Acceptor)', { publisherRestart: true }],
    // pub-0 closed and started again among members; the answer to its view question was dropped, and with no JOIN
    // heard it sent keyed publishes through the queue group, which ran #2 and #5 of k1 after the direct #7. A question
    // the transport saw reach a member (no no-responders) is asked again and awaited, as after a member's JOIN (RingView).
    [34, 'a publisher that restarts among members asks again when its view answer is lost (RingView)', { publisherRestart: true }],
    // node-1 published #1 of k2, a key it owned, into its own full queue (1): publish() resolved and the message
    // was dropped. A member's publish to its own key is settled by its dispatcher (Publisher.runHere).
    [105, "a member's publish to a key it owns is refused, not resolved, when its own queue is full (Publisher)", { memberPublishers: true, overload: true }],
    // node-0 published #1 of k3 to node-2, which crashed; told by the others' LEAV, node-0 owned k3 and ran its
    // own #3 at once, then #1 when its publisher moved it. A publish to a key this broker took over waits behind
    // the lane's messages still at the old owner (Publisher.route).
    [1769, 'a member runs its publish to a key it took over only after its earlier ones at the old owner (Publisher)', { memberPublishers: true }],
    // node-2, disconnected, probed node-1 for its unanswered publishes: the probe could not tell, which counted as
    // dead. node-2 moved #0 and #1 of k2 home, refused #1 (queue full: publish() rejected), and once back sent #0 on
    // to node-1, which released the copy of #1 it held and ran it. A publisher judges no owner while its own
    // transport is down, nor on a probe that could not tell because it went down (PublishRecovery.watch).
    [717, 'a publisher takes no owner for dead while its own transport is down (PublishRecovery)', { memberPublishers: true, overload: true, publisherRestart: true }],
    // node-1 forwarded pub-0's request #0 of k0 to node-2; node-2 ran it and replied, and its ACK of the forward was
    // dropped. After ACK_PATIENCE node-1 gave up and routed the request again: node-2, alive, ran it a second time.
    // A request goes again only when its owner is proven gone (OverdueForwards.giveUp).
    [1313, 'a forwarded request whose ACK was lost is not sent again to its live owner: it runs once (OverdueForwards)', { requests: true }],
    // node-4 forwarded pub-0's request #1 of k0 to node-2, which ran it; the ACK was dropped, node-2 close()d at 165
    // ms, and node-4, its forward's owner proven gone, routed the request to k0's next owner, itself, and ran it again.
    // A forwarded request goes to no second owner: FLOW_OWNER_LOST (OverdueForwards.giveUp).
    [7574, 'a forwarded request whose owner left before its ACK arrived runs on no second owner (OverdueForwards)', { requests: true, overload: true, publisherRestart: true, memberPublishers: true }],
  ];
  for (const [seed, what, options] of REGRESSIONS) {
    it(`seed ${seed}${modes(options)}: ${what}`, async () => {
      const { schedule, trace: t, violations } = await simulate(seed, options);
      for (const property of PROPERTIES) if (expectedToHold(property, schedule, t)) expect([property, violations[property]]).toEqual([property, []]);
      // Repeats come only from crashes and retries: nothing runs over and over.
      expect(t.runs.length).toBeLessThanOrEqual(2 * t.publishes.length);
      // Order and loss are asserted only without a fallback to the queue group: none here.
      expect(t.viaQueueGroup).toBe(0);
      // The late-refusal cases refuse publishes after they resolved, and their publishers count them.
      if (options?.refusesLate === true) expect(t.refusedLate.reduce((sum, n) => sum + n, 0)).toBeGreaterThan(0);
    });
  }

  // In blocks, each with its own timeout: one block takes ~3 s alone and ~20 s on a CI machine under load.
  for (let first = 1; first <= SEEDS; first += BLOCK) holdsOver(first, {});
  // The first seeds again with owners that queue 1 to 3 messages at most: they refuse some, late ones too.
  for (let first = 1; first <= OVERLOAD_SEEDS; first += BLOCK) holdsOver(first, { overload: true });
  // And with one publisher that stops (crash, close() or shutdown()) and starts again under its name.
  for (let first = 1; first <= RESTART_SEEDS; first += BLOCK) holdsOver(first, { publisherRestart: true });
  // And with half of the publishes from handling brokers.
  for (let first = 1; first <= MEMBER_SEEDS; first += BLOCK) holdsOver(first, { memberPublishers: true });
  // And with a third of the publishes as keyed requests.
  for (let first = 1; first <= REQUEST_SEEDS; first += BLOCK) holdsOver(first, { requests: true });

  function modes(options: ScheduleOptions | undefined): string {
    const names = [
      options?.overload === true ? 'overload' : '',
      options?.publisherRestart === true ? 'publisher restart' : '',
      options?.memberPublishers === true ? 'member publishers' : '',
      options?.requests === true ? 'requests' : '',
    ];
    const set = names.filter((n) => n !== '');
    return set.length === 0 ? '' : ` (${set.join(', ')})`;
  }

  function holdsOver(first: number, options: ScheduleOptions): void {
    const last = first + BLOCK - 1;
    const overload = options.overload === true;
    const restart = options.publisherRestart === true;
    it(
      `holds, over seeds ${first}-${last}${modes(options)}, every property today's library guarantees for each schedule`,
      async () => {
        const failures: string[] = [];
        const classes: Record<MembershipClass, number> = { stable: 0, changes: 0, crashes: 0 };
        let handled = 0;
        let rejected = 0;
        let closed = 0;
        let answered = 0;
        for (let seed = first; seed <= last; seed++) {
          const { schedule, trace: t, violations } = await simulate(seed, options);
          classes[schedule.membership]++;
          handled += t.runs.length;
          rejected += t.publishes.filter((p) => p.outcome === 'rejected').length;
          closed += t.publishes.filter((p) => p.outcome === 'closed').length;
          answered += t.publishes.filter((p) => p.request === true && p.outcome === 'resolved').length;
          for (const property of PROPERTIES) {
            if (violations[property].length === 0 || !expectedToHold(property, schedule, t)) continue;
            failures.push(
              `${PROPERTY_TEXT[property]} violated; replay: ${replayCommand(seed, options)}\n  ${describeSchedule(schedule)}\n  ` +
                violations[property].slice(0, 3).join('\n  '),
            );
          }
        }
        expect(failures).toEqual([]);
        // Every class of schedule is exercised, with real traffic.
        for (const count of Object.values(classes)) expect(count).toBeGreaterThan(BLOCK / 5);
        expect(handled).toBeGreaterThan(BLOCK * 10);
        // Overloaded owners refuse publishes (1,413 in seeds 1..3,000; 6 more after they resolved, rarer than
        // one per block, which seeds 634 and 967 assert).
        if (overload) expect(rejected).toBeGreaterThan(0);
        // Publishers stop with publishes unsettled, which their stop rejects (1,301 in seeds 1..1,000).
        if (restart) expect(closed).toBeGreaterThan(0);
        // Requests are answered (1,299 of 1,360 in seeds 1..200; the rest time out or lose their owner).
        if (options.requests === true) expect(answered).toBeGreaterThan(BLOCK * 3);
      },
      BLOCK_TIMEOUT_MS,
    );
  }
});

/** What a broker counts. Every field only grows. */
export interface BrokerCounters {
  /** Messages and requests taken from stream subjects. */
  received: number;
  /** FWD frames sent to an owner. */
  forwarded: number;
  /** Answers that settled our forwards and publishes: an ACK or a handled notice, or for a forward its owner's refusal (ERR). */
  acked: number;
  /** Forwards routed again after their owner timed out. */
  retried: number;
  /** Forwards and pings that got no answer within ackTimeout. */
  timedOut: number;
  /** Handler runs that completed. */
  handled: number;
  /** Handler runs that threw or rejected. */
  failed: number;
  /** Undecodable input on any subject. */
  malformed: number;
  /** Forwarded requests failed fast with FLOW_OWNER_LOST: their owner was found dead (or went silent) after they were sent. */
  ownerLost: number;
  /** Errors thrown while acting on network input, or by timers and probes acting on it later: caught, reported. */
  contained: number;
  /** Publishes seen again by their owner (a retry after a lost notice) and not run again. */
  duplicates: number;
  /** Messages given up: overload, no handler, closed while in flight. */
  dropped: number;
  /** Handoffs given up (handoff.ts): the previous owner gone, silent, or past the bound; its keys ran here. */
  handoffsAbandoned: number;
  /**
   * Keyed publishes and requests sent through the stream's queue group instead of to their owner: the
   * view unknown (no member answered yet, a clique of Go brokers), held by reconnectBuffer while the
   * transport was down, or `directRouting` off (not one rejected while the transport is down). Such a
   * publish resolves once sent and keeps no order relative to direct ones.
   */
  viaQueueGroup: number;
  /**
   * Acknowledged publishes refused after publish() had resolved: the owner that accepted one could not
   * place it after all (a handoff or reconnect sent it on to an owner that refused it). Each is also
   * reported through onError (rate limited); this counts every one.
   */
  refusedLate: number;
}

export function newCounters(): BrokerCounters {
  return {
    received: 0,
    forwarded: 0,
    acked: 0,
    retried: 0,
    timedOut: 0,
    handled: 0,
    failed: 0,
    malformed: 0,
    ownerLost: 0,
    contained: 0,
    duplicates: 0,
    dropped: 0,
    handoffsAbandoned: 0,
    viaQueueGroup: 0,
    refusedLate: 0,
  };
}

import { Logger } from '@nestjs/common';
import type { FlowServer } from 'nestjs-flow';
import type { Broker } from 'nestjs-flow/core';

/** How long membership must stay quiet before a change is logged, ms: one node joining is 256 events. */
const SETTLE_MS = 250;

/**
 * Logs ring membership changes of a node, one line per burst: a node joining
 * or leaving moves all of its virtual positions at once, which the broker
 * reports one position at a time. Returns the function that stops logging.
 */
export function logRingChanges(server: FlowServer, logger: Pick<Logger, 'log'>): () => void {
  const pending = { joined: 0, left: 0, suspected: 0 };
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    const broker = server.unwrap<Broker>();
    const members = broker.snapshot().members.length;
    const perNode = broker.options.virtualNodes;
    const changes = Object.entries(pending)
      .filter(([, count]) => count > 0)
      .map(([event, count]) => `${count} positions ${event}`)
      .join(', ');
    // Every ledger node runs with the same number of virtual nodes, so positions tell the node count.
    const nodes = members / perNode;
    logger.log(`ring changed (${changes}): ${members} positions, ${nodes} node${nodes === 1 ? '' : 's'} x ${perNode}`);
    pending.joined = pending.left = pending.suspected = 0;
  };
  const count = (event: keyof typeof pending) => () => {
    pending[event]++;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(flush, SETTLE_MS).unref();
  };
  const off = [server.on('joined', count('joined')), server.on('left', count('left')), server.on('suspected', count('suspected'))];
  return () => {
    if (timer !== undefined) clearTimeout(timer);
    for (const unsubscribe of off) unsubscribe();
  };
}

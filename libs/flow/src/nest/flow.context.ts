import { BaseRpcContext } from '@nestjs/microservices';
import type { Delivery } from '../core';

type FlowContextArgs = [delivery: Delivery];

/** Stateless outside streaming mode, so one instance serves every context. */
const UTF8 = new TextDecoder();

/**
 * What `@Ctx()` gives a Flow handler: where the message came from and which
 * ring position it was routed to. One instance per delivery.
 */
export class FlowContext extends BaseRpcContext<FlowContextArgs> {
  constructor(args: FlowContextArgs) {
    super(args);
  }

  /** The stream (NATS subject) the message was published on. */
  getStream(): string {
    return this.args[0].stream;
  }

  /** The partition key decoded as UTF-8; '' when the message has none. */
  getPartitionKey(): string {
    return UTF8.decode(this.args[0].partitionKey);
  }

  /** The partition key as sent (read-only view; empty when none). */
  getPartitionKeyBytes(): Uint8Array {
    return this.args[0].partitionKey;
  }

  /** The partition key's ring hash as 16 hex digits; undefined for unkeyed messages. */
  getPartition(): string | undefined {
    return this.args[0].partition?.toString();
  }

  /** The synchronous partition slot (hash mod `syncPartitions`); undefined when slots are off or unkeyed. */
  getSlot(): number | undefined {
    return this.args[0].slot;
  }

  /** The node key (16 hex digits) of the local ring position that owns the message. */
  getOwner(): string {
    return this.args[0].owner.toString();
  }

  /** The node key (16 hex digits) of the broker running the handler; it holds many ring positions. */
  getNodeKey(): string {
    return this.args[0].nodeKey.toString();
  }

  getClique(): string {
    return this.args[0].clique;
  }

  /**
   * The ownership epoch at which the handling broker acquired this key's
   * range. A local fencing token: monotonic per broker, not comparable across
   * brokers; fencing across brokers needs a store's compare-and-set (a NATS KV
   * revision). Unkeyed messages: the broker's current epoch.
   */
  getEpoch(): number {
    return this.args[0].epoch;
  }

  /** Whether the key's owner in the broker's current view is still this broker (false once it leaves); true unkeyed while on the ring. */
  isStillOwner(): boolean {
    const { partition, ownership, owner } = this.args[0];
    return ownership.isOwner(partition ?? owner);
  }

  /** True on request streams (a reply is expected), false on message streams. */
  isRequest(): boolean {
    return this.args[0].request;
  }
}

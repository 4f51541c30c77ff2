import { Delivery, Key, keyFromBytes, parseKey } from '../core';
import { FlowContext } from './flow.context';

function delivery(overrides: Partial<Delivery> = {}): Delivery {
  const partitionKey = new TextEncoder().encode('acc-42');
  return {
    stream: 'deposits',
    partitionKey,
    partition: keyFromBytes(partitionKey),
    data: new Uint8Array(0),
    slot: 3,
    owner: parseKey('00000000000000ff'),
    nodeKey: parseKey('d1601808ef7260a1'),
    clique: 'ledger',
    request: false,
    epoch: 4,
    ownership: { isOwner: () => true },
    ...overrides,
  };
}

describe('FlowContext', () => {
  it('exposes where a keyed message came from and which position owns it', () => {
    const source = delivery();
    const context = new FlowContext([source]);
    expect(context.getStream()).toBe('deposits');
    expect(context.getPartitionKey()).toBe('acc-42');
    expect(context.getPartitionKeyBytes()).toBe(source.partitionKey);
    expect(context.getPartition()).toBe(keyFromBytes(source.partitionKey).toString());
    expect(context.getPartition()).toMatch(/^[0-9a-f]{16}$/);
    expect(context.getSlot()).toBe(3);
    expect(context.getOwner()).toBe('00000000000000ff');
    expect(context.getNodeKey()).toBe('d1601808ef7260a1');
    expect(context.getClique()).toBe('ledger');
    expect(context.isRequest()).toBe(false);
    expect(context.getArgs()).toEqual([source]);
  });

  it('reports an unkeyed request with an empty key, no partition and no slot', () => {
    const context = new FlowContext([
      delivery({ partitionKey: new Uint8Array(0), partition: undefined, slot: undefined, request: true, owner: new Key(0, 1) }),
    ]);
    expect(context.getPartitionKey()).toBe('');
    expect(context.getPartitionKeyBytes()).toHaveLength(0);
    expect(context.getPartition()).toBeUndefined();
    expect(context.getSlot()).toBeUndefined();
    expect(context.getOwner()).toBe('0000000000000001');
    expect(context.isRequest()).toBe(true);
  });

  it('gives the ownership epoch and asks the broker whether it still owns the key', () => {
    let owning = true;
    const asked: string[] = [];
    const source = delivery({
      epoch: 7,
      ownership: {
        isOwner: (partition) => {
          asked.push(partition.toString());
          return owning;
        },
      },
    });
    const context = new FlowContext([source]);
    expect(context.getEpoch()).toBe(7);
    expect(context.isStillOwner()).toBe(true);
    owning = false;
    expect(context.isStillOwner()).toBe(false);
    expect(asked).toEqual([source.partition!.toString(), source.partition!.toString()]);
  });
});

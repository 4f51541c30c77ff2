/** Settings that travel with one message but are not part of its payload. */
export interface FlowRecordOptions {
  /**
   * Partition key: the broker that owns it handles the message. A string is
   * encoded as UTF-8. Without a key, any broker of the clique may handle it.
   */
  readonly key?: string | Uint8Array;
}

/**
 * A payload with its partition key, for `FlowClient.emit` and `send`, which
 * only take a pattern and a value: `client.emit('orders', new FlowRecord(order, { key: order.accountId }))`.
 */
export class FlowRecord<TData = unknown> {
  constructor(
    readonly data: TData,
    readonly options: FlowRecordOptions = {},
  ) {}
}

/** Builds a FlowRecord step by step: `new FlowRecordBuilder(order).setKey('acc-1').build()`. */
export class FlowRecordBuilder<TData = unknown> {
  #data: TData | undefined;
  #key: string | Uint8Array | undefined;

  constructor(data?: TData) {
    this.#data = data;
  }

  setData(data: TData): this {
    this.#data = data;
    return this;
  }

  setKey(key: string | Uint8Array): this {
    this.#key = key;
    return this;
  }

  build(): FlowRecord<TData> {
    return new FlowRecord(this.#data as TData, this.#key === undefined ? {} : { key: this.#key });
  }
}

/** Arrays up to this size are carved from a slab; larger ones are allocated alone. */
const MAX_CARVED = 4096;
const SLAB_SIZE = 64 * 1024;

/**
 * Amortises the allocation of small byte arrays. A typed array above 64
 * bytes gets its own off-heap backing store, which costs ten times a view
 * into an existing one; frames are encoded once per message, so this shows.
 *
 * Contract: every array returned is fresh memory that is never handed out
 * again, so a receiver may keep it (a transport queueing it, a handler
 * storing it). A slab is freed by the garbage collector once no view into it
 * remains; until then at most one slab's worth of memory is held per
 * surviving view. Arrays start zeroed, like `new Uint8Array(n)`.
 */
export class Slab {
  private buffer = new Uint8Array(SLAB_SIZE);
  private offset = 0;

  allocate(size: number): Uint8Array {
    if (size > MAX_CARVED) return new Uint8Array(size);
    if (this.offset + size > this.buffer.length) {
      this.buffer = new Uint8Array(SLAB_SIZE);
      this.offset = 0;
    }
    const view = new Uint8Array(this.buffer.buffer, this.offset, size);
    // Keep views 8-byte aligned so a later DataView or wide read stays cheap.
    this.offset += (size + 7) & ~7;
    return view;
  }
}

import { GCProfiler, getHeapStatistics } from 'node:v8';

/**
 * Bytes this process has allocated on the JS heap since the counter was
 * made, about: the heap in use now plus what every garbage collection since
 * then freed (v8's GCProfiler). Unlike time on a shared machine it hardly
 * moves between runs, so it shows a change in per-message objects that rates
 * and CPU cannot resolve. Objects that die before a collection and are
 * allocated again count each time, as they should.
 */
export class HeapAllocation {
  private profiler = new GCProfiler();
  private freed = 0;
  private oldDirect = 0;
  /** The old generation in use after the last collection read, bytes. */
  private oldAfterLast: number | undefined;

  constructor() {
    this.profiler.start();
  }

  /** Allocated so far. The profiler is read and started again, so that its record stays short. */
  read(): number {
    this.drain();
    return getHeapStatistics().used_heap_size + this.freed;
  }

  /**
   * Bytes the old generation gained between collections so far: what went
   * there without surviving a scavenge first. A Map that gains and loses
   * entries while it is old is one source (V8 rebuilds its table there); such
   * garbage stays until a full collection, and shows in RSS
   * (docs/BENCHMARKS.md, thirteenth session).
   */
  oldGenerationDirect(): number {
    this.drain();
    return this.oldDirect;
  }

  private drain(): void {
    for (const { beforeGC, afterGC } of this.profiler.stop()?.statistics ?? []) {
      this.freed += beforeGC.heapStatistics.usedHeapSize - afterGC.heapStatistics.usedHeapSize;
      const before = oldSpaceUsed(beforeGC.heapSpaceStatistics);
      if (this.oldAfterLast !== undefined && before > this.oldAfterLast) this.oldDirect += before - this.oldAfterLast;
      this.oldAfterLast = oldSpaceUsed(afterGC.heapSpaceStatistics);
    }
    this.profiler = new GCProfiler();
    this.profiler.start();
  }
}

function oldSpaceUsed(spaces: readonly { spaceName: string; spaceUsedSize: number }[]): number {
  return spaces.find((space) => space.spaceName === 'old_space')?.spaceUsedSize ?? 0;
}

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

  constructor() {
    this.profiler.start();
  }

  /** Allocated so far. The profiler is read and started again, so that its record stays short. */
  read(): number {
    for (const { beforeGC, afterGC } of this.profiler.stop()?.statistics ?? []) {
      this.freed += beforeGC.heapStatistics.usedHeapSize - afterGC.heapStatistics.usedHeapSize;
    }
    this.profiler = new GCProfiler();
    this.profiler.start();
    return getHeapStatistics().used_heap_size + this.freed;
  }
}

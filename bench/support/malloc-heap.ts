import { readFileSync } from 'node:fs';

/** glibc's reservation for each thread arena's heap on 64-bit Linux (HEAP_MAX_SIZE). */
const ARENA_BYTES = 64 * 1024 * 1024;

interface Region {
  readonly start: number;
  readonly end: number;
  readonly perms: string;
  readonly path: string;
  rss: number;
}

/**
 * Resident bytes of glibc malloc's heaps in this process (Linux; NaN
 * elsewhere): the main arena (`[heap]`, grown by brk) and the thread arenas
 * (anonymous reservations of 64 MiB on a 64 MiB boundary, readable in front,
 * inaccessible behind). Memory that native code, ArrayBuffers among it, has
 * freed stays here until glibc can give it back, which it does only from a
 * heap's top: this is the RSS a process keeps for memory it no longer uses.
 */
export function mallocHeapBytes(): number {
  let text: string;
  try {
    text = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return Number.NaN;
  }
  const regions: Region[] = [];
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header !== null) regions.push({ start: parseInt(header[1]!, 16), end: parseInt(header[2]!, 16), perms: header[3]!, path: header[4]!, rss: 0 });
    else if (line.startsWith('Rss:') && regions.length > 0) regions[regions.length - 1]!.rss = Number(/\d+/.exec(line)![0]) * 1024;
  }
  let bytes = 0;
  for (let i = 0; i < regions.length; i++) {
    const region = regions[i]!;
    if (region.path === '[heap]') bytes += region.rss;
    else if (region.path === '' && region.perms === 'rw-p' && region.start % ARENA_BYTES === 0) {
      // A thread arena: this part and the inaccessible rest right behind it span 64 MiB.
      const rest = regions[i + 1];
      const span = (rest !== undefined && rest.start === region.end && rest.path === '' && rest.perms === '---p' ? rest.end : region.end) - region.start;
      if (span === ARENA_BYTES) bytes += region.rss;
    }
  }
  return bytes;
}

import type { SelfTime } from '../cpu-profile';

/** Where a profile's self time goes, by the layer that spends it. */
export const PROFILE_GROUPS = [
  'garbage collector',
  'NATS client and socket',
  'Flow broker (core)',
  'Flow Nest layer',
  'Nest framework and rxjs',
  'serialization (JSON, UTF-8)',
  'Node buffers',
  'promises and microtasks',
  'module loading (startup)',
  'other',
] as const;

export type ProfileGroup = (typeof PROFILE_GROUPS)[number];

/** The group of a per-file self-time entry of summarizeProfile (a short path, or a native function's name). */
export function profileGroupOf(file: string): ProfileGroup {
  if (file === '(garbage collector)') return 'garbage collector';
  if (file.startsWith('nats/') || file === 'writeBuffer' || file === 'writev' || file.includes('node:net')) {
    return 'NATS client and socket';
  }
  if (file.startsWith('node:internal/stream') || file.startsWith('node:internal/streams')) return 'NATS client and socket';
  // The library's sources, or its built package (bench/support/built-library.ts).
  if (/^libs\/flow\/(src|dist)\/nest\/flow\.serializer\.[jt]s$/.test(file)) return 'serialization (JSON, UTF-8)';
  if (/^libs\/flow\/(src|dist)\/core\//.test(file)) return 'Flow broker (core)';
  if (/^libs\/flow\/(src|dist)\/nest\//.test(file)) return 'Flow Nest layer';
  if (file.startsWith('@nestjs/') || file.startsWith('rxjs/') || file.startsWith('reflect-metadata') || file.startsWith('tslib')) {
    return 'Nest framework and rxjs';
  }
  if (['node:internal/encoding', 'encodeUtf8String', 'decodeUTF8', 'parse', 'stringify', 'JSONParse'].includes(file)) {
    return 'serialization (JSON, UTF-8)';
  }
  if (file === 'node:buffer' || file === 'node:internal/buffer') return 'Node buffers';
  if (file === 'runMicrotasks' || file === 'node:internal/process/task_queues' || file === 'node:internal/async_hooks') {
    return 'promises and microtasks';
  }
  if (file.startsWith('node:internal/modules') || file.startsWith('typescript/') || ['wrapSafe', 'compileFunction', 'readFileUtf8', 'internalModuleStat'].includes(file)) {
    return 'module loading (startup)';
  }
  return 'other';
}

/** Shares of busy time per group, largest first. */
export function groupProfile(files: readonly SelfTime[]): { group: ProfileGroup; share: number; ms: number }[] {
  const totals = new Map<ProfileGroup, { share: number; ms: number }>();
  for (const entry of files) {
    const group = profileGroupOf(entry.frame);
    const total = totals.get(group) ?? { share: 0, ms: 0 };
    total.share += entry.share;
    total.ms += entry.ms;
    totals.set(group, total);
  }
  return [...totals.entries()].map(([group, total]) => ({ group, ...total })).sort((a, b) => b.share - a.share);
}

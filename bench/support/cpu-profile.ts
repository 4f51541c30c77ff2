import { readFileSync } from 'node:fs';

/** The parts of a V8 .cpuprofile (written by node --cpu-prof) that a self-time summary needs. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  /** `function (file:line)`, or V8's pseudo-frames such as (garbage collector). */
  readonly frame: string;
  readonly ms: number;
  readonly share: number;
}

/**
 * Self time per function and per source file of a CPU profile, largest
 * first. A sample's time is the delta to the next sample; the idle frame is
 * left out of the shares, so they are shares of busy time.
 */
export function summarizeProfile(path: string): { functions: SelfTime[]; files: SelfTime[]; busyMs: number } {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let busyUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = frames.get(profile.samples[i]!);
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (frame === undefined || frame.functionName === '(idle)') continue;
    busyUs += us;
    const file = shortFile(frame.url);
    const name = `${frame.functionName || '(anonymous)'}${file === '' ? '' : ` (${file}:${frame.lineNumber + 1})`}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const fileKey = file === '' ? frame.functionName : file;
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
  }
  const rank = (map: Map<string, number>): SelfTime[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([frame, us]) => ({ frame, ms: us / 1000, share: busyUs === 0 ? 0 : us / busyUs }));
  return { functions: rank(byFunction), files: rank(byFile), busyMs: busyUs / 1000 };
}

/** node_modules/<pkg>/... or the path below the repository, without the file:// prefix. */
function shortFile(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('node_modules/');
  if (modules >= 0) return path.slice(modules + 'node_modules/'.length);
  const libs = path.indexOf('/libs/');
  if (libs >= 0) return path.slice(libs + 1);
  return path.startsWith('node:') ? path : path.split('/').slice(-2).join('/');
}

/** The parts of a V8 sampling heap profile (HeapProfiler.stopSampling) that an allocation summary needs. */
interface HeapProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapProfileNode[];
}

export interface SelfAllocation {
  /** `function (file:line) < caller (file:line)`. */
  readonly frame: string;
  readonly bytes: number;
  readonly share: number;
}

/**
 * Bytes allocated per allocating function and its caller in a sampling heap
 * profile taken with the collected objects included, largest first: what each
 * site allocated while the profile ran, estimated from samples.
 */
export function summarizeAllocations(path: string): { sites: SelfAllocation[]; totalBytes: number } {
  const { head } = JSON.parse(readFileSync(path, 'utf8')) as { head: HeapProfileNode };
  const bySite = new Map<string, number>();
  let total = 0;
  const name = (frame: HeapProfileNode['callFrame'] | undefined): string => {
    if (frame === undefined) return '(root)';
    const file = shortFile(frame.url);
    return `${frame.functionName || '(anonymous)'}${file === '' ? '' : ` (${file}:${frame.lineNumber + 1})`}`;
  };
  const stack: HeapProfileNode[] = [head];
  const callers = new Map<HeapProfileNode, HeapProfileNode>();
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.selfSize > 0) {
      const site = `${name(node.callFrame)} < ${name(callers.get(node)?.callFrame)}`;
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const child of node.children) {
      callers.set(child, node);
      stack.push(child);
    }
  }
  const sites = [...bySite.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([frame, bytes]) => ({ frame, bytes, share: total === 0 ? 0 : bytes / total }));
  return { sites, totalBytes: total };
}

import { readFileSync } from 'node:fs';

/** USER_HZ of /proc/<pid>/stat: 100 on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime of a process from /proc (Linux), in seconds; NaN elsewhere. */
export function processCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/**
 * utime + stime of this process's main thread (Linux), in seconds; NaN
 * elsewhere. The rest of process.cpuUsage() is other threads': V8's
 * collector helpers and compiler, libuv's pool.
 */
export function mainThreadCpuSeconds(): number {
  return statCpuSeconds(`/proc/self/task/${process.pid}/stat`);
}

function statCpuSeconds(path: string): number {
  try {
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the whole line.
    const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/** Read and write system calls a process made so far (/proc/<pid>/io, Linux); NaN elsewhere. */
export function processSyscalls(pid: number): { reads: number; writes: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? Number.NaN);
    return { reads: field('syscr'), writes: field('syscw') };
  } catch {
    return { reads: Number.NaN, writes: Number.NaN };
  }
}

/** Starts counting the read and write system calls of `pids`: the returned function gives each one's count since. */
export function syscallsFrom(pids: readonly number[]): () => { reads: number; writes: number }[] {
  const before = pids.map(processSyscalls);
  return () =>
    pids.map((pid, i) => {
      const now = processSyscalls(pid);
      return { reads: now.reads - before[i]!.reads, writes: now.writes - before[i]!.writes };
    });
}

/** What the whole machine's CPUs did over an interval, in core-seconds (/proc/stat, Linux; NaN elsewhere). */
export interface MachineCpu {
  readonly busy: number;
  readonly idle: number;
  /** Time a hypervisor ran something else on our virtual CPUs: no process here counts it. */
  readonly steal: number;
}

/**
 * Starts watching the machine's CPUs: the returned function gives what they
 * did since. On a shared virtual machine a slow run can be a run with less
 * machine (steal) rather than more work or more waiting (idle).
 */
export function machineCpuFrom(): () => MachineCpu {
  const before = machineTicks();
  return () => {
    const now = machineTicks();
    const since = (i: number): number => (now[i]! - before[i]!) / CLOCK_TICKS_PER_SECOND;
    // user nice system idle iowait irq softirq steal
    return { busy: since(0) + since(1) + since(2) + since(5) + since(6), idle: since(3) + since(4), steal: since(7) };
  };
}

/** `cpu` as whole percentages of the machine, busy/idle/stolen. */
export function machineShares(cpu: MachineCpu): string {
  const total = cpu.busy + cpu.idle + cpu.steal;
  return [cpu.busy, cpu.idle, cpu.steal].map((part) => ((100 * part) / total).toFixed(0)).join('/');
}

function machineTicks(): number[] {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    return line.trim().split(/\s+/).slice(1, 9).map(Number);
  } catch {
    return new Array<number>(8).fill(Number.NaN);
  }
}

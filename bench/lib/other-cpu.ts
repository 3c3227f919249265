/**
 * How much CPU processes outside the benchmark used while it measured: on a shared 2-core machine
 * that is what makes one round differ from the next, so every round reports it.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc reports CPU time in these ticks on every mainstream architecture. */
const TICKS_PER_S = 100;

interface Proc {
  ppid: number;
  /** Start time in ticks since boot, to tell a reused pid from the process that had it. */
  start: number;
  cpuTicks: number;
}

/** Every process's parent, start time and CPU time so far, from /proc/<pid>/stat. */
export type CpuSnapshot = Map<number, Proc>;

/** Reads /proc; an empty snapshot where there is no /proc. */
export function snapshotCpu(): CpuSnapshot {
  const snapshot: CpuSnapshot = new Map();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return snapshot;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name, which may itself hold spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      snapshot.set(Number(pid), {
        ppid: Number(fields[1]),
        start: Number(fields[19]),
        cpuTicks: Number(fields[11]) + Number(fields[12]),
      });
    } catch {
      // The process ended between readdir and read.
    }
  }
  return snapshot;
}

/**
 * Average CPUs used between two snapshots by processes that are neither this one nor its
 * descendants. Processes that ended in between are not counted, so this is a lower bound.
 */
export function othersCpu(before: CpuSnapshot, after: CpuSnapshot, elapsedS: number): number {
  const ours = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, proc] of after) {
      if (!ours.has(pid) && ours.has(proc.ppid)) {
        ours.add(pid);
        grew = true;
      }
    }
  }
  let ticks = 0;
  for (const [pid, proc] of after) {
    if (ours.has(pid)) continue;
    const earlier = before.get(pid);
    ticks += proc.cpuTicks - (earlier && earlier.start === proc.start ? earlier.cpuTicks : 0);
  }
  return elapsedS > 0 ? ticks / TICKS_PER_S / elapsedS : 0;
}

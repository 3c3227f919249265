/**
 * Where the CPU went during a window: each process of the shop by its role (the gateway, each
 * instance, the control plane, PostgreSQL by the database its backends serve), the load generator,
 * and everything else on the machine. Read from /proc, so it costs nothing while the load runs.
 */
import { readFileSync } from 'node:fs';
import type { SystemStatus } from '@flotilla/control-plane/types';
import { type CpuSnapshot, snapshotCpu } from './other-cpu.ts';

/** The role of every process that is not the shop's nor the generator's. */
export const OTHERS = 'other processes on the machine';

/** Linux's USER_HZ, as other-cpu.ts reads it. */
const TICKS_PER_S = 100;

/** CPUs (1.00 = one core all the time) one role used on average over the window. */
export interface RoleCpu {
  role: string;
  cpus: number;
}

/** CPU use of the window by role, biggest first, with the machine's total over the same time. */
export interface CpuBreakdown {
  elapsedS: number;
  roles: RoleCpu[];
  /** Every process of the machine together (the shop, the generator and the rest). */
  totalCpus: number;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/**
 * Names each process of the shop. PostgreSQL backends show their database in their title
 * (`postgres: <user> <database> 127.0.0.1(port) idle`), which tells whose queries they run.
 */
export function shopRoles(status: SystemStatus, system: string, stateDir: string) {
  const byPid = new Map<number, string>([
    [process.pid, 'load generator (this process)'],
    [status.controlPlane.pid, 'control plane (flotilla up)'],
  ]);
  for (const service of status.services) {
    for (const instance of service.instances) if (instance.pid !== null) byPid.set(instance.pid, instance.id);
  }
  const databasePrefix = `flotilla_${system}_`.replaceAll('-', '_');
  let postmaster: number | null = null;
  return (pid: number, ppid: number): string | null => {
    const known = byPid.get(pid);
    if (known) return known;
    if (postmaster === null && cmdline(pid).includes(stateDir)) postmaster = pid;
    if (pid === postmaster) return 'postgres: server processes';
    if (ppid !== postmaster || postmaster === null) return null;
    const title = cmdline(pid);
    const database = title.split(' ').find((word) => word.startsWith(databasePrefix));
    return database
      ? `postgres: ${database.slice(databasePrefix.length)} database`
      : 'postgres: server processes';
  };
}

/** Starts a window now; `stop()` ends it and says who used the CPUs meanwhile. */
export function cpuWindow(roleOf: (pid: number, ppid: number) => string | null) {
  const started = performance.now();
  const before = snapshotCpu();
  return {
    stop(): CpuBreakdown {
      const after = snapshotCpu();
      const elapsedS = (performance.now() - started) / 1_000;
      return breakdown(before, after, elapsedS, roleOf);
    },
  };
}

function breakdown(
  before: CpuSnapshot,
  after: CpuSnapshot,
  elapsedS: number,
  roleOf: (pid: number, ppid: number) => string | null,
): CpuBreakdown {
  const ticks = new Map<string, number>();
  let total = 0;
  // The postmaster must be named before its children: visit parents first (lower pids are not enough).
  const ordered = [...after].sort(([, a], [, b]) => a.start - b.start);
  for (const [pid, proc] of ordered) {
    const earlier = before.get(pid);
    const used = proc.cpuTicks - (earlier && earlier.start === proc.start ? earlier.cpuTicks : 0);
    total += used;
    const role = roleOf(pid, proc.ppid) ?? OTHERS;
    ticks.set(role, (ticks.get(role) ?? 0) + used);
  }
  const cpus = (t: number) => (elapsedS > 0 ? t / TICKS_PER_S / elapsedS : 0);
  return {
    elapsedS,
    roles: [...ticks].map(([role, t]) => ({ role, cpus: cpus(t) })).sort((a, b) => b.cpus - a.cpus),
    totalCpus: cpus(total),
  };
}

import { setTimeout as sleep } from 'node:timers/promises';
import { SUPERVISOR_DEFAULTS } from '../defaults.ts';
import { type PidRecord, type PidRecords, readPidFile } from './pid-file.ts';
import { commandLineOf, isRunning, processGroupOf, signalGroup } from './process-group.ts';

/** A leftover that was stopped, and the signal that took it down. */
export interface ReapedProcess {
  instance: string;
  pid: number;
  signal: 'SIGTERM' | 'SIGKILL';
}

const pollMs = 50;

/**
 * Stops processes a previous run left behind (its control plane was killed, so its instances kept
 * serving) that the new one does not adopt: every one of `records` that still runs and whose
 * command line still names the entry recorded gets SIGTERM, then SIGKILL after a grace period,
 * with its whole process group. A pid since reused by an unrelated process does not match and is
 * left alone.
 */
export async function reapLeftovers(records: PidRecords): Promise<ReapedProcess[]> {
  const leftovers = Object.entries(records).filter(([, record]) => isLeftover(record));
  for (const [, record] of leftovers) signal(record.pid, 'SIGTERM');
  const deadline = Date.now() + SUPERVISOR_DEFAULTS.reapGracePeriodMs;
  while (Date.now() < deadline && leftovers.some(([, record]) => isRunning(record.pid))) await sleep(pollMs);
  const reaped: ReapedProcess[] = [];
  for (const [instance, record] of leftovers) {
    const stubborn = isRunning(record.pid);
    if (stubborn) signal(record.pid, 'SIGKILL');
    reaped.push({ instance, pid: record.pid, signal: stubborn ? 'SIGKILL' : 'SIGTERM' });
  }
  // SIGKILL cannot be refused, but a process stuck in an uninterruptible wait dies only when that
  // wait ends; it is not worth holding up the start of a new run for.
  const killDeadline = Date.now() + SUPERVISOR_DEFAULTS.reapGracePeriodMs;
  while (Date.now() < killDeadline && leftovers.some(([, record]) => isRunning(record.pid)))
    await sleep(pollMs);
  return reaped;
}

/** Whether a process of `workload` that an earlier run recorded in `stateDir` still runs. */
export function leftoverRuns(stateDir: string, workload: string): boolean {
  return Object.values(readPidFile(stateDir)).some(
    (record) => record.workload === workload && isLeftover(record),
  );
}

/** Whether the recorded process still runs the program it was started with (its pid was not reused). */
export function isLeftover(record: PidRecord): boolean {
  return isRunning(record.pid) && (commandLineOf(record.pid)?.includes(record.entry) ?? false);
}

/** The whole group when the process leads one, as every instance does; otherwise the process alone. */
function signal(pid: number, name: NodeJS.Signals): void {
  if (processGroupOf(pid) === pid) {
    signalGroup(pid, name);
    return;
  }
  try {
    process.kill(pid, name);
  } catch {
    // Gone between the check and the signal: nothing left to stop.
  }
}

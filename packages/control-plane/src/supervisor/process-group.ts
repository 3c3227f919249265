import { readFileSync } from 'node:fs';

/**
 * Sends `signal` to the process group led by `pid` (every instance leads its own, being spawned
 * detached), so helpers an instance started go with it. A group already gone is not an error.
 */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  // kill(-1) would signal every process this user may signal; a bad pid must never get that far.
  if (!Number.isInteger(pid) || pid <= 1) throw new RangeError(`not a process group leader: ${pid}`);
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Whether `pid` is a running process; a zombie has finished and only waits to be collected. */
export function isRunning(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== null && stat.state !== 'Z' && stat.state !== 'X';
}

/** The process group of `pid`, or null when there is no such process. */
export function processGroupOf(pid: number): number | null {
  return readStat(pid)?.group ?? null;
}

/** The arguments `pid` was started with, from /proc; null when there is no such process. */
export function commandLineOf(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((arg) => arg !== '');
  } catch {
    return null;
  }
}

function readStat(pid: number): { state: string; group: number } | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses, so
  // the fields are counted from the last closing one: state, parent, process group.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', group: Number(fields[2]) };
}

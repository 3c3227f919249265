import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isProcessAlive } from '../state/index.ts';

const POLL_MS = 50;

/** The pid in a data directory's `postmaster.pid`, or undefined when no server has it locked. */
export async function postmasterPid(dataDir: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves once `pid` has exited, or with false after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/**
 * Stops a PostgreSQL that an earlier, killed control plane left running on this data directory,
 * with a fast shutdown (SIGINT: committed data is kept). A lock file whose pid now belongs to some
 * other program is stale and removed. Returns the pid it stopped.
 */
export async function stopLeftoverPostmaster(
  dataDir: string,
  timeoutMs: number,
): Promise<number | undefined> {
  const pid = await postmasterPid(dataDir);
  if (pid === undefined || !isProcessAlive(pid)) return undefined;
  if (!(await isPostgres(pid))) {
    await rm(join(dataDir, 'postmaster.pid'), { force: true });
    return undefined;
  }
  process.kill(pid, 'SIGINT');
  if (!(await waitForExit(pid, timeoutMs))) {
    throw new Error(
      `a PostgreSQL (pid ${pid}) from an earlier run still holds ${dataDir}; stop it with \`kill -INT ${pid}\` and try again`,
    );
  }
  return pid;
}

/** Whether a live pid runs PostgreSQL; where /proc is missing, it is assumed to. */
async function isPostgres(pid: number): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('postgres');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ENOENT' || !(await hasProc());
  }
}

async function hasProc(): Promise<boolean> {
  try {
    await readFile('/proc/self/cmdline');
    return true;
  } catch {
    return false;
  }
}

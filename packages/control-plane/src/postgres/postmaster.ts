import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { isProcessAlive } from '../state/index.ts';

const POLL_MS = 50;

/**
 * How a postmaster is stopped, gentlest first: a fast shutdown (open transactions roll back,
 * everything committed is on disk), an immediate one (WAL replay on the next start), then a kill,
 * after which the server process's children notice their parent is gone and exit too.
 */
const SHUTDOWNS = [
  { signal: 'SIGINT', name: 'a fast shutdown' },
  { signal: 'SIGQUIT', name: 'an immediate shutdown' },
  { signal: 'SIGKILL', name: 'SIGKILL' },
] as const;

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
 * Stops the postmaster `pid` and resolves once it has exited, giving each way of stopping it
 * `timeoutMs` before the next, harder one. A server already gone is not an error.
 */
export async function stopPostmaster(pid: number, timeoutMs: number, log: Logger): Promise<void> {
  for (const [i, { signal, name }] of SHUTDOWNS.entries()) {
    try {
      process.kill(pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return;
      throw error;
    }
    if (await waitForExit(pid, timeoutMs)) return;
    const next = SHUTDOWNS[i + 1];
    if (next) log.warn({ pid }, `PostgreSQL did not finish ${name} in ${timeoutMs} ms; trying ${next.name}`);
  }
  throw new Error(`PostgreSQL (pid ${pid}) was still running ${timeoutMs} ms after SIGKILL`);
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

import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { isProcessAlive } from '../state/index.ts';
import { isRunning, processGroupOf, signalGroup } from '../supervisor/process-group.ts';

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

/**
 * Resolves once `pid` has exited, or with false after `timeoutMs`. A zombie has exited: a
 * postmaster adopted from an earlier control plane is init's child, and the init of some
 * containers never collects it, so its pid would answer signals for ever.
 */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  // processGroupOf is null where there is no /proc to tell a zombie by: the signal alone decides.
  while (isProcessAlive(pid) && (isRunning(pid) || processGroupOf(pid) === null)) {
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
 * Clears what a postmaster that died without shutting down (kill -9, the OOM killer) leaves
 * behind, so that a new one can start on the same data directory and port:
 *
 * - Its backends and helpers, in the process group it led. They notice their parent is gone only
 *   at their next wait, and until they exit they hold the old shared memory, which a new server
 *   refuses to start beside. Without the postmaster they can serve no one, and the new server's
 *   crash recovery replays the WAL either way, so they are killed rather than waited for.
 * - Its `postmaster.pid`, once the pid in it no longer runs. The server itself removes a lock
 *   file whose pid is gone, but takes a zombie's pid for a live postmaster and refuses to start;
 *   an adopted postmaster's zombie stays one when init does not collect it.
 *
 * Rejects when the group still runs `timeoutMs` after SIGKILL.
 */
export async function clearCrashedPostmaster(dataDir: string, pid: number, timeoutMs: number): Promise<void> {
  signalGroup(pid, 'SIGKILL');
  const deadline = Date.now() + timeoutMs;
  while ((await runningInGroup(pid)).length > 0) {
    if (Date.now() > deadline) {
      throw new Error(
        `processes of the PostgreSQL that was pid ${pid} still run ${timeoutMs} ms after SIGKILL: ${(await runningInGroup(pid)).join(', ')}`,
      );
    }
    await sleep(POLL_MS);
  }
  const locked = await postmasterPid(dataDir);
  if (locked !== undefined && !isRunning(locked)) await rm(join(dataDir, 'postmaster.pid'), { force: true });
}

/** The pids of the process group `group` that still run (zombies left out). */
async function runningInGroup(group: number): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  return pids.filter((pid) => processGroupOf(pid) === group && isRunning(pid));
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

import type { Logger } from 'pino';
import { describeExit, spawnFailedReason } from '../supervisor/exit-reason.ts';
import type { Clock } from '../supervisor/index.ts';
import { type RestartPolicy, restartDelayMs, standingFailures } from '../supervisor/restart-policy.ts';
import type { InstanceStatus, PostgresServerStatus, PostgresState } from '../types.ts';
import { clearCrashedPostmaster, stopPostmaster } from './postmaster.ts';
import {
  type PostmasterExit,
  type PostmasterWatch,
  type WatchedPostmaster,
  watchPostmaster,
} from './watch-postmaster.ts';

/** How to keep one embedded PostgreSQL running. */
export interface PostmasterSupervisorOptions {
  /** The running postmaster: one just started, or one adopted by pid from an earlier control plane. */
  postmaster: WatchedPostmaster;
  dataDir: string;
  /** Starts a new postmaster on the same data directory and port; rejects when it does not come up. */
  start: () => Promise<WatchedPostmaster>;
  policy: RestartPolicy;
  /** How often a postmaster that is no child of this process is checked. */
  watchIntervalMs: number;
  /** How long a fast shutdown may take (and each harder one after it), and a crash's leftovers to go. */
  stopTimeoutMs: number;
  clock: Clock;
  log: Logger;
}

/**
 * Keeps the embedded PostgreSQL running the way the supervisor keeps an instance: when the
 * postmaster ends (kill -9, the OOM killer, a crash), it says why in the log, clears what the dead
 * server left behind, waits the instances' restart backoff, and starts a new one on the same port
 * and data directory, which recovers everything committed from the WAL. A start that fails counts
 * as one more failure, so the wait grows; 60 s of running forgives earlier failures.
 */
export class PostmasterSupervisor {
  readonly #options: PostmasterSupervisorOptions;
  #state: PostgresState = 'running';
  #pid: number | null;
  #restarts = 0;
  #failures = 0;
  #runningSinceMs: number | null;
  #lastExit: InstanceStatus['lastExit'] = null;
  #nextRestartAtMs: number | null = null;
  #watch: PostmasterWatch | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  /** Ends the backoff being waited out, so that stop() need not wait for it. */
  #wake: (() => void) | undefined;
  /** Settles when the restart in progress (clearing, waiting, starting) is over. */
  #restarting: Promise<void> | undefined;
  #stopping = false;

  constructor(options: PostmasterSupervisorOptions) {
    this.#options = options;
    this.#pid = options.postmaster.pid;
    this.#runningSinceMs = options.clock.now();
    this.#watchPostmaster(options.postmaster);
  }

  /** The pid of the postmaster running now, or null while there is none. */
  get pid(): number | null {
    return this.#pid;
  }

  /** The server's state, pid, restarts and last end, for `flotilla status`. */
  status(): PostgresServerStatus {
    return {
      state: this.#state,
      pid: this.#pid,
      restarts: this.#restarts,
      lastExit: this.#lastExit,
      nextRestartAt: this.#nextRestartAtMs === null ? null : new Date(this.#nextRestartAtMs).toISOString(),
    };
  }

  /** Stops restarting, then stops the server with a fast shutdown; resolves once it has exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#watch?.stop();
    clearTimeout(this.#restartTimer);
    this.#wake?.();
    this.#nextRestartAtMs = null;
    // A start in progress is let finish, so the server it brings up is stopped rather than left behind.
    await this.#restarting;
    const pid = this.#pid;
    if (pid !== null) await stopPostmaster(pid, this.#options.stopTimeoutMs, this.#options.log);
    this.#pid = null;
    this.#state = 'down';
  }

  #watchPostmaster(postmaster: WatchedPostmaster): void {
    const watch = watchPostmaster(postmaster, { intervalMs: this.#options.watchIntervalMs });
    this.#watch = watch;
    void watch.gone.then((exit) => {
      this.#restarting = this.#restart(exit);
    });
  }

  /**
   * Records why the server ended, clears what it left behind, waits the backoff and starts a new
   * one, again and again until one comes up or stop() is called.
   */
  async #restart(exit: PostmasterExit): Promise<void> {
    const { clock, log, policy } = this.#options;
    const endedAtMs = clock.now();
    let ended: { code: number | null; signal: NodeJS.Signals | null; reason: string } = {
      code: exit.code,
      signal: exit.signal,
      reason: describeEnd(exit),
    };
    this.#pid = null;
    // Once only: when its processes are gone, the old pid may lead some other process group.
    let clearedMs: number | undefined;
    const cleared = clearCrashedPostmaster(this.#options.dataDir, exit.pid, this.#options.stopTimeoutMs).then(
      () => {
        clearedMs = clock.now() - endedAtMs;
      },
      (error: unknown) => {
        // The start below then fails too while the old processes hold on, and counts as a failure.
        log.error({ err: error }, 'could not clear what the ended PostgreSQL left behind');
      },
    );
    for (;;) {
      const now = clock.now();
      this.#lastExit = { ...ended, at: new Date(now).toISOString() };
      this.#failures = standingFailures(this.#failures, this.#runningSinceMs, now, policy) + 1;
      const delayMs = restartDelayMs(this.#failures, policy);
      this.#runningSinceMs = null;
      this.#state = 'crashloop';
      this.#nextRestartAtMs = now + delayMs;
      log.error(
        { pid: exit.pid, reason: ended.reason, delayMs },
        `PostgreSQL is down (${ended.reason}); restarting it in ${delayMs} ms`,
      );
      await Promise.all([cleared, this.#backoff(delayMs)]);
      if (this.#stopping) return;

      this.#restarts++;
      this.#state = 'restarting';
      this.#nextRestartAtMs = null;
      const startingAtMs = clock.now();
      try {
        const started = await this.#options.start();
        this.#pid = started.pid;
        this.#runningSinceMs = clock.now();
        this.#state = 'running';
        if (this.#stopping) return;
        const downMs = clock.now() - endedAtMs;
        const recoveryMs = clock.now() - startingAtMs;
        log.warn(
          { pid: started.pid, restarts: this.#restarts, downMs, clearedMs, recoveryMs },
          `PostgreSQL restarted ${downMs} ms after it ended (its old processes were gone after ${clearedMs} ms; the new one recovered in ${recoveryMs} ms)`,
        );
        this.#watchPostmaster(started);
        return;
      } catch (error) {
        if (this.#stopping) return;
        ended = { code: null, signal: null, reason: spawnFailedReason(error as Error) };
      }
    }
  }

  /** Resolves after `delayMs`, or at once when stop() is called. */
  #backoff(delayMs: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#restartTimer = setTimeout(resolve, delayMs);
    this.#wake = resolve;
    return promise;
  }
}

/** Why a postmaster ended: its exit status when it was a child, else only that it is gone. */
function describeEnd(exit: PostmasterExit): string {
  if (exit.code !== null || exit.signal !== null) return describeExit(exit.code, exit.signal);
  return `pid ${exit.pid} is gone (adopted from an earlier control plane, so its exit status is unknown)`;
}

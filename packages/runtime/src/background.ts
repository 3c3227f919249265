import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { RUNTIME_DEFAULTS } from './defaults.ts';

/** Work a service does besides answering requests: a loop that ends when its signal aborts. */
export type BackgroundTask = (signal: AbortSignal) => Promise<void>;

/**
 * Runs `task` until `signal` aborts. A task that fails, or returns while it should still run, is
 * logged and started again after a pause: one bad iteration must not end the work for good, nor
 * take the process and its requests down with it.
 */
export async function keepRunning(
  name: string,
  task: BackgroundTask,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await task(signal);
      if (signal.aborted) return;
      log.warn({ task: name }, 'background task returned while the service runs; starting it again');
    } catch (err) {
      if (signal.aborted) return;
      log.error({ err, task: name }, 'background task failed; starting it again');
    }
    await sleep(RUNTIME_DEFAULTS.backgroundRestartDelayMs, undefined, { signal }).catch(() => undefined);
  }
}

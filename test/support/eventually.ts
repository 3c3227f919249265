import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Runs `check` until it stops throwing and returns what it returned; after `timeoutMs` the last
 * failure is thrown, so the test reports what was still wrong.
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  timeoutMs = 5_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await sleep(everyMs);
    }
  }
}

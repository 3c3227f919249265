/**
 * How long to wait before a retry: exponential backoff with full jitter, uniform in
 * [0, min(maxMs, baseMs * 2^(retry - 1))). Full jitter rather than a fixed schedule so that callers
 * that failed together do not retry together and hit a recovering destination in waves.
 *
 * @param retry which retry this is, 1 for the first.
 * @param random uniform in [0, 1); injectable for tests.
 */
export function backoffMs(
  retry: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  // Past about 1000 retries 2 ** n is Infinity, which Math.min turns into maxMs.
  return random() * Math.min(maxMs, baseMs * 2 ** (retry - 1));
}

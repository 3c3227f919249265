/** When a failed instance is started again. */
export interface RestartPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  resetAfterReadyMs: number;
}

/**
 * Consecutive failures still held against an instance at `nowMs`: none once it has been ready
 * without a break for `resetAfterReadyMs`, so an instance that crashes once a day restarts at once.
 */
export function standingFailures(
  failures: number,
  readySinceMs: number | null,
  nowMs: number,
  policy: RestartPolicy,
): number {
  return readySinceMs !== null && nowMs - readySinceMs >= policy.resetAfterReadyMs ? 0 : failures;
}

/** The wait before restarting after the `failures`-th consecutive failure (1 or more): doubling, capped. */
export function restartDelayMs(failures: number, policy: RestartPolicy): number {
  const doublings = Math.max(0, failures - 1);
  // Capping the exponent first keeps 2 ** n finite however long an instance has been failing.
  const factor = 2 ** Math.min(doublings, 52);
  return Math.min(policy.initialDelayMs * factor, policy.maxDelayMs);
}

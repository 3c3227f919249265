/** An exponential backoff: the delay doubles from `initialDelayMs` up to `maxDelayMs`, spread by `jitter`. */
export interface BackoffPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  /** Fraction of the delay added or taken at random, so that clients failing together do not retry together. */
  jitter: number;
}

/**
 * The delay before retry number `attempt` (1 for the first): `initialDelayMs * 2^(attempt-1)`,
 * capped at `maxDelayMs`, then moved by up to ±jitter of itself, and never above the cap.
 */
export function backoffMs(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  const spread = base * policy.jitter * (2 * random() - 1);
  return Math.round(Math.min(policy.maxDelayMs, base + spread));
}

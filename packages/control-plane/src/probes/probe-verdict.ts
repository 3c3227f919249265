/** What a probe result means once counted: `pass` at once, `fail` from the threshold on, else `pending`. */
export type ProbeVerdict = 'pass' | 'fail' | 'pending';

/** Counts one result into the run of consecutive failures and says what the run means now. */
export function recordProbe(
  consecutiveFailures: number,
  ok: boolean,
  failureThreshold: number,
): { consecutiveFailures: number; verdict: ProbeVerdict } {
  if (ok) return { consecutiveFailures: 0, verdict: 'pass' };
  const failures = consecutiveFailures + 1;
  return { consecutiveFailures: failures, verdict: failures >= failureThreshold ? 'fail' : 'pending' };
}

/** What a new control plane found of one process an earlier run recorded in `pids.json`. */
export interface AdoptionCandidate {
  /**
   * `running`: the pid runs the recorded entry; `other-program`: the pid was reused by something
   * else; `gone`: no such process.
   */
  process: 'running' | 'other-program' | 'gone';
  /** The fingerprint recorded when it started; undefined in a record of an older run. */
  recordedFingerprint: string | undefined;
  /** What this spec would start for its workload and version now; undefined when the spec has no such version. */
  expectedFingerprint: string | undefined;
  /** Whether the record holds its port and token digest, without which it cannot be probed or renew its certificate. */
  complete: boolean;
  /** One liveness probe of it, when it runs. */
  liveness: { ok: boolean; detail: string } | undefined;
}

/**
 * `adopt`: keep it running and supervise it; `replace`: stop it (it is ours but unhealthy or of
 * another spec), and let the scale step start a fresh one; `forget`: nothing of ours runs there.
 */
export type AdoptionDecision =
  | { action: 'adopt' }
  | { action: 'replace'; reason: string }
  | { action: 'forget'; reason: string };

/**
 * Whether a new control plane adopts a process of the earlier run: only one that runs, is what the
 * current spec would start (same fingerprint), and answers its liveness probe. Readiness is not
 * asked for: a live instance that is unready for a moment (its database restarting) is adopted as
 * unready, as a running instance would not be killed for it either.
 */
export function decideAdoption(candidate: AdoptionCandidate): AdoptionDecision {
  if (candidate.process === 'gone') return { action: 'forget', reason: 'it is no longer running' };
  if (candidate.process === 'other-program')
    return { action: 'forget', reason: 'its pid now runs another program' };
  if (!candidate.complete || candidate.recordedFingerprint === undefined)
    return {
      action: 'replace',
      reason: 'it was started by an older Flotilla that did not record enough to adopt it',
    };
  if (candidate.expectedFingerprint === undefined)
    return { action: 'replace', reason: 'the spec no longer has its workload or version' };
  if (candidate.recordedFingerprint !== candidate.expectedFingerprint)
    return {
      action: 'replace',
      reason: 'it was started with another command or environment than the spec gives now',
    };
  if (candidate.liveness === undefined || !candidate.liveness.ok)
    return {
      action: 'replace',
      reason: `it does not answer its liveness probe (${candidate.liveness?.detail ?? 'not probed'})`,
    };
  return { action: 'adopt' };
}

import type { Workload } from '../types.ts';
import { httpProbe } from './http-probe.ts';
import { recordProbe } from './probe-verdict.ts';

/** How a liveness or readiness probe is run. */
export type ProbeSpec = Workload['probes']['liveness'];

/** What to probe and whom to tell. */
export interface ProberOptions {
  host: string;
  port: number;
  probe: ProbeSpec;
  /** Each passing probe. */
  onPass(): void;
  /** Each failing probe from the failure threshold on, with the run's length and the last failure. */
  onFail(consecutiveFailures: number, detail: string): void;
  /**
   * Probe this often until the first pass, then every `periodMs`: a starting process is usually
   * ready well before one full period, and start-up time is what a user waits for.
   */
  startupPeriodMs?: number;
}

/**
 * Probes every `periodMs` (measured from the start of one probe to the start of the next, and never
 * two at once) after `initialDelayMs`. Returns a function that stops it; a result that arrives
 * after that is dropped.
 */
export function startProber(options: ProberOptions): () => void {
  const { host, port, probe } = options;
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let passed = false;

  const tick = async (): Promise<void> => {
    const startedAt = Date.now();
    const result = await httpProbe({ host, port, path: probe.path, timeoutMs: probe.timeoutMs });
    if (stopped) return;
    const counted = recordProbe(failures, result.ok, probe.failureThreshold);
    failures = counted.consecutiveFailures;
    if (result.ok) passed = true;
    if (counted.verdict === 'pass') options.onPass();
    if (counted.verdict === 'fail') options.onFail(failures, result.detail);
    if (stopped) return;
    const periodMs = passed
      ? probe.periodMs
      : Math.min(probe.periodMs, options.startupPeriodMs ?? probe.periodMs);
    timer = setTimeout(tick, Math.max(0, periodMs - (Date.now() - startedAt)));
  };

  timer = setTimeout(tick, probe.initialDelayMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

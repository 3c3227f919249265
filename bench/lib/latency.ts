/** Latencies and errors of one measured window, per operation, and the percentiles read from them. */

/** What one operation did in a window. */
export interface OpSummary {
  requests: number;
  errors: number;
  /** Error kinds (`409 OUT_OF_STOCK`, `socket UND_ERR_SOCKET`, ...) and how many of each. */
  errorKinds: Record<string, number>;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** The nearest-rank percentile of an ascending array; NaN when it is empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

class OpLog {
  latencies: number[] = [];
  errorKinds = new Map<string, number>();
  errors = 0;
}

/**
 * Every request of a window, kept whole (a few hundred thousand numbers at most), so that the
 * percentiles are exact rather than read from histogram buckets. Errors count among the requests
 * and their latencies among the latencies: an error served fast must not make the figures look good.
 */
export class LatencyLog {
  readonly #ops = new Map<string, OpLog>();

  /** Records one request of `op` that took `ms`; `errorKind` is null for a success. */
  record(op: string, ms: number, errorKind: string | null): void {
    let log = this.#ops.get(op);
    if (!log) {
      log = new OpLog();
      this.#ops.set(op, log);
    }
    log.latencies.push(ms);
    if (errorKind !== null) {
      log.errors++;
      log.errorKinds.set(errorKind, (log.errorKinds.get(errorKind) ?? 0) + 1);
    }
  }

  /** Each operation's summary, and `all` over every request of the window. */
  summary(): Record<string, OpSummary> {
    const out: Record<string, OpSummary> = {};
    const all = new OpLog();
    for (const [op, log] of this.#ops) {
      out[op] = summarise(log);
      for (const ms of log.latencies) all.latencies.push(ms);
      all.errors += log.errors;
      for (const [kind, n] of log.errorKinds) all.errorKinds.set(`${op}: ${kind}`, n);
    }
    if (this.#ops.size > 1) out.all = summarise(all);
    return out;
  }
}

function summarise(log: OpLog): OpSummary {
  const sorted = Float64Array.from(log.latencies).sort();
  return {
    requests: sorted.length,
    errors: log.errors,
    errorKinds: Object.fromEntries(log.errorKinds),
    p50Ms: percentile(sorted, 50),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

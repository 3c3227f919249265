import type { ResilienceSpec } from '@flotilla/spec';
import { CircuitBreaker, OutlierDetector, RetryBudget } from './resilience/index.ts';

/** An endpoint some version's outlier detector holds out of rotation. */
export interface Ejection {
  service: string;
  endpoint: string;
  /** Epoch ms at which it returns. */
  until: number;
  ejections: number;
}

/**
 * What one process keeps about one destination service across routing tables: its retry budget,
 * its circuit breaker and, per version (each version is its own pool of endpoints, as an Istio
 * subset is its own cluster), its outlier detector. A new table with the same resilience keeps
 * them, and changed limits apply to them in place, so counts in flight and ejections carry over.
 */
export class Destination {
  readonly service: string;
  readonly budget: RetryBudget;
  readonly breaker: CircuitBreaker;
  #resilience: ResilienceSpec;
  readonly #outliers = new Map<string, OutlierDetector>();
  readonly #onEjections: () => void;

  constructor(service: string, resilience: ResilienceSpec, onEjections: () => void) {
    this.service = service;
    this.#resilience = resilience;
    this.#onEjections = onEjections;
    this.budget = new RetryBudget(resilience.retryBudget);
    this.breaker = new CircuitBreaker(resilience.circuitBreaker);
  }

  /** Applies the resilience of a new table; counts in flight and ejections stand. */
  configure(resilience: ResilienceSpec): void {
    if (resilience === this.#resilience) return;
    this.#resilience = resilience;
    this.budget.configure(resilience.retryBudget);
    this.breaker.configure(resilience.circuitBreaker);
    for (const detector of this.#outliers.values()) detector.configure(resilience.outlierDetection);
  }

  /** The outlier detector of one version. */
  outliers(version: string): OutlierDetector {
    let detector = this.#outliers.get(version);
    if (detector === undefined) {
      detector = new OutlierDetector(this.#resilience.outlierDetection, { onChange: this.#onEjections });
      this.#outliers.set(version, detector);
    }
    return detector;
  }

  /** Forgets endpoints that left the table. */
  retain(endpointsByVersion: ReadonlyMap<string, ReadonlySet<string>>): void {
    for (const [version, detector] of this.#outliers) {
      const ids = endpointsByVersion.get(version);
      if (ids === undefined) this.#outliers.delete(version);
      else detector.retain(ids);
    }
  }

  /** Endpoints ejected now, for `flotilla status`. */
  ejected(): Ejection[] {
    const out: Ejection[] = [];
    for (const detector of this.#outliers.values()) {
      for (const e of detector.ejected()) {
        out.push({ service: this.service, endpoint: e.endpoint, until: e.until, ejections: e.ejections });
      }
    }
    return out;
  }
}

import type { ResilienceSpec } from '@flotilla/spec';
import { type Clock, monotonicNow } from './clock.ts';

/** The `outlierDetection` of a service's resilience in the routing table. */
export type OutlierDetectionPolicy = ResilienceSpec['outlierDetection'];

/** What an outlier detector reads besides its policy, and whom it tells of changes. */
export interface OutlierDetectorOptions {
  /** Monotonic milliseconds, for ejection times. @default performance.now */
  now?: Clock;
  /** Epoch milliseconds, only to report when ejections end. @default Date.now */
  wallClock?: Clock;
  /**
   * Called when the set of ejected endpoints changes: on an ejection, and on a return noticed by
   * `record`, `isEjected` or `retain` (returns are noticed lazily, no timer runs). Read `ejected()`
   * from it to report. It runs inside those calls, on the request path, so it must not throw.
   */
  onChange?: () => void;
}

/** An endpoint out of the balancer's rotation, as reported to the control plane. */
export interface Ejection {
  readonly endpoint: string;
  /** Epoch milliseconds at which it returns. */
  readonly until: number;
  /** Its ejection count: this ejection lasts that many `baseEjectionMs`. */
  readonly ejections: number;
}

/**
 * Envoy's default `max_ejection_time`: however often an endpoint is ejected, one ejection lasts
 * no longer than this (or one `baseEjectionMs`, if that is longer). The ejection count stops
 * growing there, so a flapping endpoint also earns its way back in bounded time.
 */
export const MAX_EJECTION_MS = 300_000;

interface EndpointHealth {
  readonly id: string;
  /** 5xx answers or connect failures in a row. */
  errors: number;
  /** The multiplier of the ejection time; decays while the endpoint stays in rotation. */
  ejections: number;
  ejected: boolean;
  /** While ejected, when it returns; after, when it returned (both monotonic). */
  until: number;
}

/**
 * Passive health checking of one destination service's endpoints, as Envoy's consecutive_5xx
 * (and Istio's outlierDetection): an endpoint that gives `consecutiveErrors` 5xx answers or
 * connect failures in a row is ejected, left out of the balancer for `baseEjectionMs` times its
 * ejection count. The count grows by one per ejection and falls by one for every full
 * `baseEjectionMs` the endpoint then stays in rotation, so an endpoint that keeps failing stays
 * out longer each time and one that recovers is soon forgiven. One instance per destination per
 * process, kept across routing tables.
 *
 * Never more than `maxEjectionPercent` of the destination's endpoints are ejected at once,
 * rounded down but at least one (Envoy ejects one however small the share), and never the last
 * endpoint in rotation: with one endpoint, or every other one already out, nobody is ejected,
 * since a possibly bad endpoint serves better than none. An endpoint refused ejection keeps its
 * error count, so its next error asks again. `consecutiveErrors: 0` turns it all off.
 *
 * `record` and `isEjected` are O(1) and read the clock only for an ejected endpoint; the one
 * allocation is an endpoint's first error. An ejection decision, rare by nature, also looks over
 * the ejected endpoints for any whose time is up.
 */
export class OutlierDetector {
  readonly #now: Clock;
  readonly #wallClock: Clock;
  readonly #onChange: (() => void) | undefined;
  #threshold = 0;
  #baseEjectionMs = 0;
  #maxEjectionPercent = 0;
  readonly #endpoints = new Map<string, EndpointHealth>();
  readonly #ejected = new Set<EndpointHealth>();

  constructor(policy: OutlierDetectionPolicy, options: OutlierDetectorOptions = {}) {
    this.#now = options.now ?? monotonicNow;
    this.#wallClock = options.wallClock ?? Date.now;
    this.#onChange = options.onChange;
    this.configure(policy);
  }

  /**
   * Endpoints held out now, counting any whose time is up but not yet noticed: 0 means the
   * balancer may pick without asking `isEjected`.
   */
  get ejectedCount(): number {
    return this.#ejected.size;
  }

  /**
   * Takes a new policy (from a newer routing table). Error counts and ejections stand; new
   * ejection times apply from the next ejection. Turning detection off returns every endpoint.
   */
  configure(policy: OutlierDetectionPolicy): void {
    this.#threshold = policy.consecutiveErrors;
    this.#baseEjectionMs = policy.baseEjectionMs;
    this.#maxEjectionPercent = policy.maxEjectionPercent;
    if (policy.consecutiveErrors > 0) return;
    const changed = this.#ejected.size > 0;
    this.#endpoints.clear();
    this.#ejected.clear();
    if (changed) this.#onChange?.();
  }

  /**
   * Records how a try on an endpoint went: `ok: false` for a 5xx answer or a connect failure,
   * true for any other answer. `totalEndpoints` is the destination's endpoint count in the current
   * table, ejected ones included. Returns 'ejected' when this record ejected the endpoint.
   * Records for an endpoint while it is ejected (tries sent before) are ignored.
   */
  record(endpointId: string, ok: boolean, totalEndpoints: number): 'ejected' | undefined {
    const threshold = this.#threshold;
    if (threshold === 0) return undefined;
    let health = this.#endpoints.get(endpointId);
    if (health === undefined) {
      if (ok) return undefined;
      health = { id: endpointId, errors: 0, ejections: 0, ejected: false, until: 0 };
      this.#endpoints.set(endpointId, health);
    }
    if (health.ejected) {
      if (this.#now() < health.until) return undefined;
      this.#return(health);
      this.#onChange?.();
    }
    if (ok) {
      health.errors = 0;
      return undefined;
    }
    health.errors++;
    if (health.errors < threshold) return undefined;
    return this.#tryEject(health, totalEndpoints) ? 'ejected' : undefined;
  }

  /** Whether the balancer must leave the endpoint out now. Notices an ejection that ended. */
  isEjected(endpointId: string): boolean {
    if (this.#ejected.size === 0) return false;
    const health = this.#endpoints.get(endpointId);
    if (health === undefined || !health.ejected) return false;
    if (this.#now() < health.until) return true;
    this.#return(health);
    this.#onChange?.();
    return false;
  }

  /**
   * The endpoints ejected now, for the control plane. Ejections that ended are dropped quietly:
   * the caller is reading the fresh list anyway.
   */
  ejected(): Ejection[] {
    const now = this.#now();
    this.#returnExpired(now);
    const toWall = this.#wallClock() - now;
    return Array.from(this.#ejected, (health) => ({
      endpoint: health.id,
      until: health.until + toWall,
      ejections: health.ejections,
    }));
  }

  /** Forgets every endpoint not in `ids` (those that left the routing table). */
  retain(ids: ReadonlySet<string>): void {
    let changed = false;
    for (const [id, health] of this.#endpoints) {
      if (ids.has(id)) continue;
      this.#endpoints.delete(id);
      changed = this.#ejected.delete(health) || changed;
    }
    if (changed) this.#onChange?.();
  }

  #tryEject(health: EndpointHealth, totalEndpoints: number): boolean {
    const now = this.#now();
    const returned = this.#returnExpired(now);
    if (this.#ejected.size >= maxEjected(this.#maxEjectionPercent, totalEndpoints)) {
      if (returned) this.#onChange?.();
      return false;
    }
    const baseMs = this.#baseEjectionMs;
    const forgiven = health.ejections === 0 ? 0 : Math.floor((now - health.until) / baseMs);
    const cap = Math.max(1, Math.floor(MAX_EJECTION_MS / baseMs));
    health.ejections = Math.min(cap, Math.max(0, health.ejections - forgiven) + 1);
    health.until = now + baseMs * health.ejections;
    health.ejected = true;
    health.errors = 0;
    this.#ejected.add(health);
    this.#onChange?.();
    return true;
  }

  /** Returns the endpoints whose ejection has ended; true if there were any. */
  #returnExpired(now: number): boolean {
    let returned = false;
    for (const health of this.#ejected) {
      if (now < health.until) continue;
      this.#return(health);
      returned = true;
    }
    return returned;
  }

  /** Back in rotation with a clean slate; `until` stays, as the moment it returned. */
  #return(health: EndpointHealth): void {
    health.ejected = false;
    health.errors = 0;
    this.#ejected.delete(health);
  }
}

/** How many of `total` endpoints may be out at once: the share rounded down, at least one, never all. */
function maxEjected(percent: number, total: number): number {
  if (percent <= 0) return 0;
  // The epsilon keeps 10% of 30 at 3 whatever the floating-point product rounds to.
  const share = Math.max(1, Math.floor((percent * total) / 100 + 1e-9));
  return Math.min(share, total - 1);
}

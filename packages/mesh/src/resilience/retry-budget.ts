import type { ResilienceSpec } from '@flotilla/spec';
import { type Clock, monotonicNow } from './clock.ts';

/** The `retryBudget` of a service's resilience in the routing table. */
export type RetryBudgetPolicy = ResilienceSpec['retryBudget'];

/** What a retry budget reads besides its policy. */
export interface RetryBudgetOptions {
  /** Monotonic milliseconds. @default performance.now */
  now?: Clock;
}

/**
 * How many retries one process may send to one destination service at a time: what keeps retries
 * from turning a struggling dependency into a dead one. One instance per destination per process,
 * kept across routing tables (`configure` takes a new policy without losing the counts).
 *
 * A retry is granted when either holds, checked in this order:
 * 1. with it, the retries in flight are at most `percent`% of the calls in flight that are not
 *    retrying (still on their first try): `retries + 1 <= percent / 100 * (calls - (retries + 1))`;
 * 2. a token is left in a bucket that refills at `minRetriesPerSecond` per second and holds as many
 *    (at least one, so a fractional rate still grants one now and then); it starts full. It lets a
 *    quiet caller, with too few calls in flight for the percentage to reach one, still retry.
 *
 * The base is the calls on their first try, not every call in flight, because a retrying call
 * stays in flight longer: counting it, as Envoy's budget does, lets retries reach
 * percent / (100 - percent) of the first tries (25% for 20%). Against calls on their first try,
 * and with retries that last as long as first tries, the retries sent during an outage stay under
 * `percent`% of the calls made, plus `minRetriesPerSecond` per second: Linkerd's retry ratio, held
 * by Envoy's concurrency rule.
 *
 * Every method is O(1) and allocates nothing; the clock is read only when the percentage refuses.
 */
export class RetryBudget {
  readonly #now: Clock;
  #ratio = 0;
  #tokensPerMs = 0;
  #capacity = 0;
  #tokens = 0;
  #refilledAt: number;
  #activeRequests = 0;
  #activeRetries = 0;
  #exhausted = 0;

  constructor(policy: RetryBudgetPolicy, options: RetryBudgetOptions = {}) {
    this.#now = options.now ?? monotonicNow;
    this.#refilledAt = this.#now();
    this.configure(policy);
    this.#tokens = this.#capacity;
  }

  /** Retries refused because the budget was spent; for metrics. */
  get exhausted(): number {
    return this.#exhausted;
  }

  /** Calls in flight to the destination, retrying or not. */
  get activeRequests(): number {
    return this.#activeRequests;
  }

  /** Granted retries not yet ended. */
  get activeRetries(): number {
    return this.#activeRetries;
  }

  /** Takes a new policy (from a newer routing table); calls and retries in flight stay counted. */
  configure(policy: RetryBudgetPolicy): void {
    this.#refill();
    this.#ratio = policy.percent / 100;
    this.#tokensPerMs = policy.minRetriesPerSecond / 1000;
    this.#capacity = policy.minRetriesPerSecond > 0 ? Math.max(1, policy.minRetriesPerSecond) : 0;
    this.#tokens = Math.min(this.#tokens, this.#capacity);
  }

  /** A call to the destination started: once per call, however many tries it makes. */
  requestStarted(): void {
    this.#activeRequests++;
  }

  /** A call finished, whatever its outcome: once per `requestStarted`. */
  requestEnded(): void {
    this.#activeRequests--;
  }

  /**
   * Asks to retry a call, before its backoff: the wait counts against the budget too, so retries
   * queued in backoff cannot pile up unseen. True grants it, and the caller must call `retryEnded`
   * once when that try finishes. False refuses it and counts in `exhausted`.
   */
  tryAcquireRetry(): boolean {
    const retries = this.#activeRetries + 1;
    if (retries <= this.#ratio * (this.#activeRequests - retries) || this.#takeToken()) {
      this.#activeRetries = retries;
      return true;
    }
    this.#exhausted++;
    return false;
  }

  /** A granted retry's try finished (or the call ended during its backoff). */
  retryEnded(): void {
    this.#activeRetries--;
  }

  #takeToken(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Adds the tokens earned since the last refill, lazily: no timer runs. */
  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#refilledAt) * this.#tokensPerMs);
    this.#refilledAt = now;
  }
}

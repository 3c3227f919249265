import type { ResilienceSpec } from '@flotilla/spec';

/** The `circuitBreaker` of a service's resilience in the routing table. */
export type CircuitBreakerPolicy = ResilienceSpec['circuitBreaker'];

/** Whether a try may go out; either refusal is an overflow, Envoy's response flag UO. */
export type CircuitBreakerVerdict = 'ok' | 'max-requests' | 'max-pending';

/**
 * Envoy's cluster circuit breaker: a hard cap on the tries one process has in flight to one
 * destination service (`maxRequests`, waiting ones included), and on those of them waiting for a
 * connection (`maxPendingRequests`). Past either, a try fails at once rather than queue behind a
 * destination that is not keeping up. One instance per destination per process, kept across
 * routing tables (`configure` takes new limits and keeps the counts).
 *
 * It counts tries, not calls (a retry is a try, as Envoy counts upstream requests), and learns
 * which of them wait from the chosen endpoint's in-flight count: with `maxConnectionsPerEndpoint`
 * connections, an endpoint with n tries in flight has max(0, n - maxConnectionsPerEndpoint) of
 * them waiting. Both `tryAcquire` and `release` take the endpoint's count without the try itself
 * (`upstream.inFlight` before the increment, after the decrement); each changes `pending` by
 * exactly the change of that endpoint's term, so `pending` is the sum over all endpoints, in O(1).
 * That holds while every change of those counts goes through this breaker and the connection
 * limit stays put. Were it to drift (a new limit with tries in flight, a count changed elsewhere),
 * `pending` is clamped to the tries in flight, and so is exact again once the destination is idle.
 */
export class CircuitBreaker {
  #maxRequests = 0;
  #maxPending = 0;
  #connectionsPerEndpoint = 0;
  #active = 0;
  #pending = 0;
  #overflows = 0;

  constructor(policy: CircuitBreakerPolicy) {
    this.configure(policy);
  }

  /** Tries refused, for either limit; for metrics. */
  get overflows(): number {
    return this.#overflows;
  }

  /** Tries in flight, waiting ones included. */
  get active(): number {
    return this.#active;
  }

  /** Tries waiting for a connection, over every endpoint of the destination. */
  get pending(): number {
    return this.#pending;
  }

  /** Takes new limits (from a newer routing table); tries in flight stay counted. */
  configure(policy: CircuitBreakerPolicy): void {
    this.#maxRequests = policy.maxRequests;
    this.#maxPending = policy.maxPendingRequests;
    this.#connectionsPerEndpoint = policy.maxConnectionsPerEndpoint;
  }

  /**
   * Asks to send a try to an endpoint that has `endpointInFlight` tries in flight, not counting
   * this one. On 'ok' the try is counted and the caller must call `release` once when it ends; a
   * refusal counts in `overflows`, changes nothing else and needs no release.
   */
  tryAcquire(endpointInFlight: number): CircuitBreakerVerdict {
    if (this.#active >= this.#maxRequests) {
      this.#overflows++;
      return 'max-requests';
    }
    if (endpointInFlight >= this.#connectionsPerEndpoint) {
      if (this.#pending >= this.#maxPending) {
        this.#overflows++;
        return 'max-pending';
      }
      this.#pending++;
    }
    this.#active++;
    return 'ok';
  }

  /**
   * A try acquired here ended, on an endpoint now left with `endpointInFlight` tries. If that is
   * still at least its connections, a waiting try took the freed connection (or the ended try was
   * itself waiting): one fewer waits either way.
   */
  release(endpointInFlight: number): void {
    this.#active--;
    if (endpointInFlight >= this.#connectionsPerEndpoint) this.#pending--;
    if (this.#pending > this.#active) this.#pending = this.#active;
    else if (this.#pending < 0) this.#pending = 0;
  }
}

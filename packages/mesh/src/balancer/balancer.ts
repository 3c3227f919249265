/** What a balancer may read of an endpoint. */
export interface BalancerTarget {
  /** Calls sent to this endpoint that have not finished yet. */
  readonly inFlight: number;
}

/**
 * Picks one endpoint of a list for the next call. One balancer serves one list (the endpoints of
 * one version of one service); it runs on every call, so it must not allocate.
 */
export interface Balancer {
  /** The endpoint for the next call; undefined for an empty list. */
  pick<T extends BalancerTarget>(targets: readonly T[]): T | undefined;
}

/** The balancers a client can be created with. */
export type BalancerKind = 'least-request' | 'round-robin';

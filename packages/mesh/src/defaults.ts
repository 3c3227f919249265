/** Every default of the mesh client, in one place. Units are in the names. */
export const MESH_DEFAULTS = {
  /** A measured choice: `node bench/mesh-balancer.ts` compares the balancers under a slow endpoint. */
  balancer: 'least-request',
  /** Largest response body `request()` buffers. */
  maxResponseBytes: 10 * 1024 * 1024,
  /** Retries of a call that never reached a process (refused or reset before any response byte). */
  connectRetries: 2,
  /** How long `ready()` waits for a first routing table. */
  readyTimeoutMs: 10_000,
  /** Loopback connects take microseconds; a connect this slow means the instance is wedged. */
  connectTimeoutMs: 5_000,
  watch: {
    backoffInitialMs: 100,
    backoffMaxMs: 5_000,
    /** Three missed heartbeats (the control plane sends one every 15 s) mean the connection is dead. */
    idleTimeoutMs: 45_000,
  },
} as const;

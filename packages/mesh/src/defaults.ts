/** Every default of the mesh client, in one place. Units are in the names. */
export const MESH_DEFAULTS = {
  /** A measured choice: `node bench/mesh-balancer.ts` compares the balancers under a slow endpoint. */
  balancer: 'least-request',
  /** Largest response body `request()` buffers. */
  maxResponseBytes: 10 * 1024 * 1024,
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
  /** The workload side of mutual TLS. */
  tls: {
    /** Renew at half-life: a control plane that is away for up to half a lifetime costs nothing. */
    renewFraction: 0.5,
    /** First wait after a failed renewal; it doubles on every further failure. */
    retryInitialMs: 1_000,
    retryMaxMs: 30_000,
    /** A certificate request is one small POST on loopback; this long means the control plane is wedged. */
    requestTimeoutMs: 10_000,
    /**
     * Both ends are Flotilla processes on the same Node, so nothing needs an older version, and TLS 1.3
     * brings a one-round-trip handshake, encrypted certificates, AEAD-only suites with nothing to
     * configure, and no renegotiation: a connection's peer is fixed, which `peerIdentity` relies on.
     */
    minVersion: 'TLSv1.3',
  },
} as const;

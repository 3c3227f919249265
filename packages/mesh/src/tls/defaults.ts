/**
 * Defaults of the workload side of mutual TLS. Units are in the names. They belong beside the
 * rest in `MESH_DEFAULTS`; they live here until that file is free to edit.
 */
export const TLS_DEFAULTS = {
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
} as const;

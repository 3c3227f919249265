/** Defaults of the process supervisor. Units are in the names. */
export const SUPERVISOR_DEFAULTS = {
  /** Instances listen on loopback only; the gateway is the one door in. */
  host: '127.0.0.1',
  /** Pause between an instance leaving the registry and its SIGTERM, so the data plane stops sending first. */
  deregistrationDelayMs: 250,
  /** Readiness probe interval until an instance is first ready (capped by the probe's own period). */
  startupProbePeriodMs: 100,
  restart: {
    /** Wait before the first restart after a failure; it doubles with each consecutive failure. */
    initialDelayMs: 1_000,
    maxDelayMs: 30_000,
    /** Continuous readiness after which earlier failures are forgiven. */
    resetAfterReadyMs: 60_000,
  },
  /** How long a leftover of an earlier run gets between SIGTERM and SIGKILL. */
  reapGracePeriodMs: 2_000,
  /** The only variables instances inherit from the control plane, whose environment may hold secrets. */
  inheritedEnv: ['PATH', 'HOME', 'LANG'],
  pidFile: 'pids.json',
} as const;

/**
 * Every default of the control plane, in one module. Units are in the names; what a spec can set
 * has its default in `@flotilla/spec`.
 */

/** Defaults of the wiring, the admin API and the watch stream. */
export const CONTROL_PLANE_DEFAULTS = {
  /** `: ping` on the watch stream, well inside common idle timeouts of proxies and clients. */
  watchHeartbeatMs: 15_000,
  api: {
    bodyBytes: 16 * 1024,
    /** A guard against a typo starting a thousand processes on a laptop. */
    maxReplicas: 64,
    defaultTail: 200,
    maxTail: 10_000,
    followBufferBytes: 1024 * 1024,
    /** Messages GET /v1/mail returns when `limit` is absent, and the most it returns. */
    defaultMailLimit: 50,
    maxMailLimit: 1000,
    /** Dead letters GET /v1/dead-letters returns when `limit` is absent, and the most it returns. */
    defaultDeadLetterLimit: 100,
    maxDeadLetterLimit: 1000,
  },
  /** Time in-flight admin requests get once everything else has stopped. */
  apiCloseGraceMs: 2_000,
  postgres: {
    startTimeoutMs: 60_000,
    stopTimeoutMs: 30_000,
    connectTimeoutMs: 10_000,
    /** How often an adopted postmaster (no child of this process: no exit event) is checked. */
    watchIntervalMs: 100,
  },
  bus: {
    /**
     * Longest wait for the bus to take every subscription at start-up. A refused RabbitMQ fails
     * sooner (the events package gives up after its few retries); this bounds one that never answers.
     */
    startTimeoutMs: 10_000,
    /** A connection to a service's database, to read or replay its dead letters, that takes longer fails. */
    connectTimeoutMs: 10_000,
  },
} as const;

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
  /**
   * How often an adopted process (not a child: no 'exit' event) is checked for still running. Its
   * exit is noticed within this, and a restart follows as for a child.
   */
  adoptedPidPollMs: 100,
} as const;

/** Defaults of the log store. Units are in the names. */
export const LOG_DEFAULTS = {
  /** Lines kept in memory per instance for `tail`; older ones live only in the instance's file. */
  ringLines: 1000,
  /** Longest line kept whole; a longer one is cut into pieces so a runaway writer cannot exhaust memory. */
  maxLineBytes: 64 * 1024,
} as const;

/** Defaults of the built-in SMTP sink. Units are in the names. */
export const MAIL_DEFAULTS = {
  /** The sink takes mail from the instances on this machine only. */
  host: '127.0.0.1',
  /** The SMTP user of the sink; its password is new on every run that adopts no earlier one. */
  user: 'flotilla',
  limits: {
    /** Largest message accepted; a larger one is refused with 552. */
    messageBytes: 10 * 1024 * 1024,
    /** RCPT TO per message; RFC 5321 asks servers to take at least 100, more are refused with 452. */
    maxRecipients: 100,
    /** Messages kept; the oldest are deleted, with their files, past this many. */
    maxMessages: 1000,
    /** Characters of the plain-text body kept in the index and shown by the API. */
    textChars: 16 * 1024,
    /** Characters kept of the From and Subject headers. */
    headerChars: 1000,
    /** HTML longer than this is not converted to text, so one message cannot stall the control plane. */
    htmlToTextChars: 1024 * 1024,
    /** Connections at once; each may buffer a message of up to `messageBytes`. */
    maxClients: 32,
  },
  /** An idle SMTP connection is closed after this long. */
  socketTimeoutMs: 60_000,
  /** Time open SMTP connections get on shutdown before they are closed with 421. */
  closeGraceMs: 2_000,
} as const;

/** Defaults of the control plane's side of the event bus. Units are in the names. */
export const BUS_DEFAULTS = {
  /**
   * Connections to each consuming service's database for its dead letters: an operator's reads and
   * replays need few, and each one counts against the service's own connection budget.
   */
  deadLetterPoolMax: 2,
  /** An idle dead-letter connection is closed after this long, so a look at them leaves nothing open. */
  deadLetterIdleMs: 30_000,
} as const;

/** Defaults of the mesh's certificate authority. Units are in the names; a certificate's lifetime is in the spec. */
export const CA_DEFAULTS = {
  /** Roots are replaced by rotation, not by expiry, so they live long: ten years. */
  rootValidityMs: 3_652 * 24 * 3_600_000,
  /** Certificates are valid from this long before they are issued, for peers whose clock is a little behind. */
  clockSkewMs: 60_000,
  /**
   * After a certificate is issued, older roots stay trusted this much longer: the holder presents
   * its old certificate until the new one arrives and is installed, a few milliseconds later on
   * loopback; a second is a wide margin that still ends a rotation at once for people.
   */
  oldRootHoldMs: 1_000,
} as const;

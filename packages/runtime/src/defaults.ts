/**
 * Every default of the runtime, in one place. Units are in the names. Values an instance gets
 * from the control plane (port, log level, grace period) come from the instance contract in
 * `@flotilla/spec`, not from here.
 */
export const RUNTIME_DEFAULTS = {
  /** Largest request body a service accepts unless it sets `bodyLimitBytes`. */
  bodyLimitBytes: 1024 * 1024,
  /** Connections each instance may hold in its PostgreSQL pool. */
  databasePoolMax: 10,
  /**
   * How long a request waits for a connection while every connection of the pool is busy, before
   * it is answered 503 OVERLOADED: well under the seconds a client waits before it gives up, so
   * that it hears "retry" while retrying still helps. `databaseWaitingMax` sheds most of a burst's
   * excess at once; this bounds the wait of those let in.
   */
  databaseAcquireTimeoutMs: 1_000,
  /**
   * How long opening a new connection may take (TCP, authentication, a backend started) before it
   * fails. Longer than the acquire wait: a busy machine can take seconds to start a backend, and
   * a refused or reset connection fails at once anyway.
   */
  databaseConnectTimeoutMs: 5_000,
  /**
   * Requests that may wait at once while every connection of the pool is busy; the next one is answered 503
   * OVERLOADED at once, as Envoy's overload manager sheds rather than queues. Two rounds of the
   * pool: a waiter gets its connection after about two handlers' worth of work.
   */
  databaseWaitingMax: 20,
  /**
   * Key of the session-level advisory lock that migrations hold for their whole run, so that
   * replicas starting together apply each file once. Any fixed bigint works, as long as every
   * replica uses the same one: these are the bytes of "flotilla".
   */
  migrationLockKey: '7380396435129003105',
  /** Buckets of `http_server_request_duration_seconds`. */
  requestDurationBucketsS: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  /** Sampling resolution of the event-loop delay monitor behind `nodejs_eventloop_lag_p99_seconds`. */
  eventLoopResolutionMs: 10,
  /** Pause before a background task that failed is started again. */
  backgroundRestartDelayMs: 1_000,
  /** A longer incoming `x-request-id` is replaced rather than echoed into logs and headers. */
  requestIdMaxLength: 200,
  /**
   * The longest `x-flotilla-timeout-ms` a caller's deadline is taken at: the header is the
   * caller's word, and a huge value must not keep the work of an abandoned request alive.
   */
  inboundTimeoutMaxMs: 3_600_000,
  /**
   * How long a new connection may stay silent before its first byte, which says whether it is TLS
   * or plaintext; node:http's own header timeout only starts once the connection is handed over.
   */
  firstByteTimeoutMs: 10_000,
} as const;

/**
 * Every default of the event bus, the outbox and the inbox, in one place. Units are in the names.
 */
export const EVENTS_DEFAULTS = {
  /** How failed handlers are retried before their event goes to the dead letters. */
  retry: {
    /** Handler runs per event, the first included. */
    maxAttempts: 10,
    /** Delay before the second run; each later one doubles it. */
    initialDelayMs: 250,
    /** No retry waits longer than this. */
    maxDelayMs: 30_000,
  },
  /** Each retry delay is spread by up to this fraction either way, so failures do not retry in step. */
  retryJitter: 0.2,
  /** Longest delay of a retry or a send; the RabbitMQ delay levels reach this far. */
  maxDelayCeilingMs: 3_600_000,
  /**
   * Deliveries one consumer has unsettled at once. Each holds a database connection while its
   * handler runs, so this stays well below the runtime's pool of 10, leaving room for requests.
   */
  prefetch: 4,
  /**
   * Key of the transaction-level advisory lock under which the outbox, inbox and dead-letter
   * tables are created. Any fixed bigint works as long as every replica uses the same one: the
   * bytes of "fltevent".
   */
  serviceTablesLockKey: '7380401868480278132',

  /** Dead letters listed when no limit is given. */
  deadLettersListLimit: 100,

  /** The outbox relay. */
  relay: {
    /** Outbox rows claimed, published and deleted per transaction. */
    batchSize: 100,
    /** Longest wait between looks at the outbox when no notification comes. */
    pollIntervalMs: 1_000,
    /** Backoff while the bus refuses events (they wait in the outbox meanwhile). */
    backoff: { initialDelayMs: 100, maxDelayMs: 10_000, jitter: 0.2 },
  },

  /** The PostgreSQL bus. */
  postgres: {
    /** How long a claim holds a delivery before another consumer may take it; renewed while unsettled. */
    leaseMs: 30_000,
    /** Longest wait between looks at a subscription's queue when no notification comes. */
    pollIntervalMs: 1_000,
    /** Shortest wait before looking again at messages that are due but were claimed by someone else. */
    minPollDelayMs: 10,
    /** Connections the bus opens besides its LISTEN connection. */
    poolMax: 4,
    /** A connection attempt that takes longer fails. */
    connectTimeoutMs: 5_000,
    /** A query that takes longer fails, so a relay never hangs on a stuck bus. */
    queryTimeoutMs: 10_000,
    /** Backoff of the LISTEN connection's reconnects and of claims that failed. */
    backoff: { initialDelayMs: 100, maxDelayMs: 5_000, jitter: 0.2 },
    /** Key of the advisory lock under which the bus's tables are created: the bytes of "fltbuses". */
    tablesLockKey: '7380401855579514227',
  },

  /** The RabbitMQ bus. */
  rabbitmq: {
    /** Reconnect backoff after the connection is lost. */
    reconnect: { initialDelayMs: 100, maxDelayMs: 5_000, jitter: 0.2 },
    /** Failed attempts at the first connection before the bus gives up (about 3 s with the backoff above). */
    initialConnectRetries: 5,
    /** AMQP heartbeat, unless the URL sets one: a silent, dead connection is noticed within about twice this. */
    heartbeatS: 10,
    /** A publish the broker has not confirmed by then fails (a blocked broker, say), so a relay never hangs. */
    confirmTimeoutMs: 10_000,
    /**
     * Delays of the delay queues: 100 ms growing by a quarter each step up to maxDelayCeilingMs. A
     * retry waits in the smallest level not below its delay, so it is late by under 25 %.
     */
    delayLevelBaseMs: 100,
    delayLevelGrowth: 1.25,
  },
} as const;

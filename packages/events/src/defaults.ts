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
  /** Longest retry delay a service may configure; the RabbitMQ delay levels reach this far. */
  retryMaxDelayCeilingMs: 3_600_000,
  /** Deliveries one instance handles at once. */
  prefetch: 16,
  /**
   * Key of the transaction-level advisory lock under which the outbox, inbox and dead-letter
   * tables are created, so replicas starting together do not race on CREATE TABLE. Any fixed
   * bigint works as long as every replica uses the same one: the bytes of "fltevent".
   */
  serviceTablesLockKey: '7380401868480278132',
} as const;

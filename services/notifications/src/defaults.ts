/** Every default of the notifications service, in one place. Units are in the names. */
export const NOTIFICATIONS_DEFAULTS = {
  from: 'Flotilla Shop <shop@shop.local>',
  sender: {
    /**
     * Notifications each instance sends at once, each in a transaction (and pool connection) of
     * its own; with the inbox consumer's 4 that stays under the runtime's pool of 10.
     */
    concurrency: 3,
    /** How often each instance looks for notifications due, when the last look found none. */
    pollIntervalMs: 200,
    /**
     * How long a notification that keeps failing transiently is retried before it is marked
     * failed: a day, as mail servers queue mail through an outage of the next hop.
     */
    giveUpAfterMs: 24 * 60 * 60 * 1000,
    retryInitialMs: 1_000,
    retryMaxMs: 5 * 60 * 1000,
    /** An SMTP exchange that takes longer than this is abandoned and retried. */
    sendTimeoutMs: 10_000,
  },
  page: { defaultSize: 20, maxSize: 100 },
} as const;

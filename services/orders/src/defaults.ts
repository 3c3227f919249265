/** Every default of the orders service, in one place. Units are in the names. */
export const ORDERS_DEFAULTS = {
  /** The shop's one currency (ISO 4217); prices are whole cents of it. */
  currency: 'EUR',
  page: {
    defaultSize: 20,
    maxSize: 100,
    /** Deep offsets cost a scan each; past this, refine the query. */ maxOffset: 10_000,
  },
  search: { maxQueryLength: 200 },
  order: {
    maxItems: 50,
    maxQuantity: 1_000,
    /** The largest charge payments takes (its `maxAmountCents`): a larger total could never be paid. */
    maxTotalCents: 100_000_000,
  },
  product: { maxStock: 1_000_000, maxPriceCents: 100_000_000 },
  idempotencyKey: {
    maxLength: 255,
    /**
     * How long a claim on a key lasts unless renewed: how long a retry waits, at most, after the
     * request holding the key died or hung (kill -9, SIGSTOP) before it takes the key over.
     */
    leaseMs: 3_000,
    /** Claims are renewed this often while their request runs, so two renewals may fail in a row. */
    renewEveryMs: 1_000,
    /**
     * A transaction on a key whose process goes quiet inside it for this long is ended by
     * PostgreSQL, so a hung process cannot keep the rows it locked (the products' stock, the key).
     */
    idleInTransactionMs: 2_000,
  },
  payments: {
    /** Attempts at a charge or refund per request, when payments answers 503 or cannot be reached. */
    attempts: 3,
    backoffMs: 200,
    /** A Retry-After longer than this is cut short: the client's own retry is the better wait. */
    maxRetryAfterMs: 2_000,
    timeoutMs: 5_000,
  },
  reconcile: {
    /**
     * An order pending this long has been given up on: well past a client's retries (the payments
     * calls of one request take at most ~16 s), so the reconciler never races a live request.
     */
    pendingAfterMs: 120_000,
    intervalMs: 10_000,
    batch: 20,
  },
  /** How long a client is told to wait before retrying a key that is in flight, or a payment outage. */
  retryAfterS: 1,
} as const;

/**
 * Defaults of the gateway core, in one place; units are in the names. What a spec can set has its
 * default in `@flotilla/spec`'s DEFAULTS; the numbers here are the ones it does not expose.
 */
export const GATEWAY_DEFAULTS = {
  /** The gateway's workload name in metrics labels and as a mesh source. */
  workload: 'gateway',
  /** Log lines buffered within one event-loop turn before they are written anyway. */
  logBatchMaxBytes: 64 * 1024,
  /** Shutdown cuts the last connections this long before the grace period ends, to exit inside it. */
  shutdownMarginMs: 250,
  /**
   * After answering a request whose body is still arriving (401, 404, 413, 503...), the connection
   * closes once the client has had this long to read the answer. Meanwhile at most `maxBytes` more
   * of the body are read and dropped, and the connection closes sooner if the body or the client's
   * side ends within them; past them the client's writes block. 500 ms is Go's net/http delay
   * before such a close.
   */
  refusedBodyLinger: { maxMs: 500, maxBytes: 64 * 1024 },
} as const;

/**
 * Operational defaults of the gateway plugins: the numbers the spec does not expose. Units are in
 * the names; the spec's own defaults (capacity, clock skew, ...) live in `@flotilla/spec`.
 */
export const PLUGIN_DEFAULTS = {
  jwt: {
    jwksFetchTimeoutMs: 3_000,
    /** A token with an unknown `kid` refetches the JWKS at most this often, so it cannot be used to flood the JWKS server. */
    jwksRefetchMinIntervalS: 30,
    /** After a failed fetch, the next attempt waits this long (the JWKS service may still be starting). */
    jwksRetryAfterFailureS: 1,
    /**
     * A verified token is remembered this long at most (and never past its exp), so a signature is
     * checked once per token rather than once per request; a key dropped from the JWKS stops
     * being honoured within this time.
     */
    verifiedCacheMaxAgeS: 60,
    verifiedCacheMaxEntries: 10_000,
    /** Longer tokens are verified every time, which bounds the cache's memory. */
    verifiedCacheMaxTokenLength: 4_096,
  },
  rateLimit: {
    keyPrefix: 'flotilla',
    /** Buckets the memory store keeps before it evicts the least recently used one. */
    memoryMaxBuckets: 100_000,
    memorySweepIntervalMs: 60_000,
    redisCommandTimeoutMs: 250,
    redisConnectTimeoutMs: 2_000,
    /** Redis keys outlive the time a bucket takes to refill by this much. */
    redisTtlMarginMs: 1_000,
    failOpenWarnIntervalS: 10,
  },
} as const;

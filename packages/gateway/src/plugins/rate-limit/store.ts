/** The size and refill rate shared by every bucket of a store. */
export interface BucketPolicy {
  capacity: number;
  refillPerSecond: number;
}

/** The outcome of taking one token from a bucket. */
export interface Take {
  allowed: boolean;
  /** Whole tokens left after this take. */
  remaining: number;
  /** Seconds until the bucket is full again, rounded up: when the quota has fully reset. */
  resetS: number;
  /** Seconds until the next token, rounded up and at least 1; 0 when the take was allowed. */
  retryAfterS: number;
}

/**
 * Where token buckets live. A missing bucket is a full one, so a store may forget full buckets.
 * `take` refills the bucket for the time passed and takes one token, atomically per key; it
 * rejects when the store cannot be reached.
 */
export interface RateLimitStore {
  take(key: string): Promise<Take>;
  close(): Promise<void>;
}

/** Builds a Take from the fractional token count left in a bucket after a take. */
export function toTake({ capacity, refillPerSecond }: BucketPolicy, allowed: boolean, tokens: number): Take {
  return {
    allowed,
    remaining: Math.floor(tokens),
    resetS: Math.ceil((capacity - tokens) / refillPerSecond),
    retryAfterS: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / refillPerSecond)),
  };
}

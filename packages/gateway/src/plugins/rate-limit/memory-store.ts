import { PLUGIN_DEFAULTS } from '../../defaults.ts';
import { type BucketPolicy, type RateLimitStore, toTake } from './store.ts';

/** Options of the in-process store. */
export interface MemoryStoreOptions {
  /** Clock in milliseconds. @default Date.now */
  now?: () => number;
  /** @default PLUGIN_DEFAULTS.rateLimit.memoryMaxBuckets */
  maxBuckets?: number;
  /** @default PLUGIN_DEFAULTS.rateLimit.memorySweepIntervalMs */
  sweepIntervalMs?: number;
}

/** The in-process store, which can tell how many buckets it holds. */
export interface MemoryStore extends RateLimitStore {
  readonly size: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/**
 * Token buckets in a Map, refilled lazily when touched. A timer (which never keeps the process
 * alive) drops buckets that have refilled, and past `maxBuckets` the least recently used bucket
 * is dropped, so a flood of client addresses cannot grow memory without bound.
 */
export function createMemoryStore(policy: BucketPolicy, options: MemoryStoreOptions = {}): MemoryStore {
  const now = options.now ?? Date.now;
  const maxBuckets = options.maxBuckets ?? PLUGIN_DEFAULTS.rateLimit.memoryMaxBuckets;
  const { capacity } = policy;
  const refillPerMs = policy.refillPerSecond / 1000;
  const buckets = new Map<string, Bucket>();
  const level = (bucket: Bucket, nowMs: number) =>
    Math.min(capacity, bucket.tokens + Math.max(0, nowMs - bucket.atMs) * refillPerMs);

  const sweep = () => {
    const nowMs = now();
    for (const [key, bucket] of buckets) if (level(bucket, nowMs) >= capacity) buckets.delete(key);
  };
  const timer = setInterval(
    sweep,
    options.sweepIntervalMs ?? PLUGIN_DEFAULTS.rateLimit.memorySweepIntervalMs,
  );
  timer.unref();

  return {
    get size() {
      return buckets.size;
    },
    async take(key) {
      const nowMs = now();
      const bucket = buckets.get(key);
      let tokens = bucket === undefined ? capacity : level(bucket, nowMs);
      const allowed = tokens >= 1;
      if (allowed) tokens -= 1;
      // Deleting and re-inserting keeps the Map in least-recently-used order.
      buckets.delete(key);
      if (buckets.size >= maxBuckets) buckets.delete(buckets.keys().next().value as string);
      buckets.set(key, { tokens, atMs: nowMs });
      return toTake(policy, allowed, tokens);
    },
    async close() {
      clearInterval(timer);
      buckets.clear();
    },
  };
}

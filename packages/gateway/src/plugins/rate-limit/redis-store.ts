import { Redis } from 'ioredis';
import { PLUGIN_DEFAULTS } from '../../defaults.ts';
import { type BucketPolicy, type RateLimitStore, toTake } from './store.ts';

/** Options of the Redis store. */
export interface RedisStoreOptions {
  url: string;
  /** Every key is `<keyPrefix>:<bucket key>`; gateways share buckets exactly when they share the prefix. */
  keyPrefix: string;
  /** Clock in milliseconds, for tests. Redis TIME is the clock when absent. */
  now?: () => number;
  /** @default PLUGIN_DEFAULTS.rateLimit.redisCommandTimeoutMs */
  commandTimeoutMs?: number;
}

/**
 * Refill and take in one script, so that the read, the arithmetic and the write are atomic. The
 * clock is Redis TIME, not the caller's, so gateway replicas with drifting clocks still agree.
 * ARGV: capacity, refill per second, TTL in ms, and a clock in ms ('' to use TIME).
 */
const TAKE_SCRIPT = `
local capacity = tonumber(ARGV[1])
local refill_per_ms = tonumber(ARGV[2]) / 1000
local now_ms = tonumber(ARGV[4])
if now_ms == nil then
  local time = redis.call('TIME')
  now_ms = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
end
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1])
local at_ms = tonumber(bucket[2])
if tokens == nil or at_ms == nil then
  tokens = capacity
else
  tokens = math.min(capacity, tokens + math.max(0, now_ms - at_ms) * refill_per_ms)
end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
local left = string.format('%.17g', tokens)
redis.call('HSET', KEYS[1], 'tokens', left, 'at', string.format('%.17g', now_ms))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return { allowed, left }
`;

interface TakeCommand {
  flotillaTake(
    key: string,
    capacity: number,
    refillPerSecond: number,
    ttlMs: number,
    nowMs: string,
  ): Promise<[number, string]>;
}

/**
 * Token buckets in Redis, shared by every gateway replica that uses the same URL and prefix.
 * A key expires once its bucket would be full again, since a missing bucket is a full one.
 *
 * Commands are never queued while Redis is away and time out quickly, so `take` rejects at once
 * instead of holding requests; the plugin decides what a rejection means.
 */
export function createRedisStore(policy: BucketPolicy, options: RedisStoreOptions): RateLimitStore {
  const { redisConnectTimeoutMs, redisCommandTimeoutMs, redisTtlMarginMs } = PLUGIN_DEFAULTS.rateLimit;
  const client = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    // A take that reached Redis before the connection dropped may have counted; never send it twice.
    maxRetriesPerRequest: 0,
    connectTimeout: redisConnectTimeoutMs,
    commandTimeout: options.commandTimeoutMs ?? redisCommandTimeoutMs,
  });
  // Connection errors surface as rejected takes, which the plugin logs; ioredis would print them too.
  client.on('error', () => {});
  client.defineCommand('flotillaTake', { numberOfKeys: 1, lua: TAKE_SCRIPT });
  const commands = client as unknown as TakeCommand;
  // The first requests wait for the first connection attempt rather than failing open needlessly.
  const connecting = client.connect().catch(() => {});
  const ttlMs = Math.ceil((policy.capacity / policy.refillPerSecond) * 1000) + redisTtlMarginMs;

  return {
    async take(key) {
      if (client.status !== 'ready') await connecting;
      const nowMs = options.now ? String(options.now()) : '';
      const [allowed, tokens] = await commands.flotillaTake(
        `${options.keyPrefix}:${key}`,
        policy.capacity,
        policy.refillPerSecond,
        ttlMs,
        nowMs,
      );
      return toTake(policy, allowed === 1, Number(tokens));
    },
    async close() {
      await connecting;
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
      else client.disconnect();
    },
  };
}

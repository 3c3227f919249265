import { createHash } from 'node:crypto';
import { DEFAULTS, type RateLimitConfig, readInstanceEnv } from '@flotilla/spec';
import { PLUGIN_DEFAULTS } from '../../defaults.ts';
import { GatewayError } from '../../errors.ts';
import type { GatewayContext, PluginDeps, PluginFactory } from '../../plugin.ts';
import { createMemoryStore } from './memory-store.ts';
import { createRedisStore } from './redis-store.ts';
import type { RateLimitStore, Take } from './store.ts';

/** The rateLimit config, where what the spec parser would fill in may be left out (a config built in code). */
export type RateLimitOptions = Partial<RateLimitConfig>;

/**
 * Limits each client to a token bucket of `capacity` requests refilled at `refillPerSecond`. A
 * plugin instance is one budget: the gateway shares the global instance across routes, and a route
 * override has its own. The client is its IP, or its verified subject when `key` is 'subject' (so this plugin runs
 * after jwt; unauthenticated requests fall back to the IP). Every answer carries RateLimit-Limit,
 * RateLimit-Remaining and RateLimit-Reset (draft-ietf-httpapi-ratelimit-headers); an empty bucket
 * answers 429 RATE_LIMITED with Retry-After.
 *
 * When the store cannot be reached (Redis down), requests are allowed: the limiter protects
 * capacity, not identity, and refusing all traffic because of it would turn a Redis outage into a
 * gateway outage. A warning is logged at most once per `failOpenWarnIntervalS`.
 */
export const rateLimit: PluginFactory<RateLimitOptions> = (options, deps) => {
  const config: RateLimitConfig = { ...DEFAULTS.gateway.rateLimit, ...options };
  const store = createStore(config, deps);
  const limit = String(config.capacity);
  const warnEveryMs = PLUGIN_DEFAULTS.rateLimit.failOpenWarnIntervalS * 1000;
  let lastWarnMs = Number.NEGATIVE_INFINITY;

  const clientKey = (ctx: GatewayContext): string =>
    config.key === 'subject' && ctx.subject !== undefined ? `sub:${ctx.subject}` : `ip:${ctx.clientIp}`;

  return {
    name: 'rateLimit',
    async onRequest(ctx) {
      let take: Take;
      try {
        take = await store.take(clientKey(ctx));
      } catch (error) {
        if (deps.now() - lastWarnMs >= warnEveryMs) {
          lastWarnMs = deps.now();
          deps.log.warn(
            { plugin: 'rateLimit', store: config.store, error: (error as Error).message },
            'rate-limit store unreachable; allowing requests without a limit until it is back',
          );
        }
        return;
      }
      ctx.responseHeaders['ratelimit-limit'] = limit;
      ctx.responseHeaders['ratelimit-remaining'] = String(take.remaining);
      ctx.responseHeaders['ratelimit-reset'] = String(take.resetS);
      if (!take.allowed) {
        throw new GatewayError('RATE_LIMITED', { headers: { 'retry-after': String(take.retryAfterS) } });
      }
    },
    close: () => store.close(),
  };
};

/**
 * Picks the store. Redis keys carry the system name, so systems sharing one Redis never share
 * buckets, and a digest of the policy, so that gateway replicas (and generations) with the same
 * policy share buckets while a bucket is never read under a different capacity or rate.
 */
function createStore(config: RateLimitConfig, deps: PluginDeps): RateLimitStore {
  const policy = { capacity: config.capacity, refillPerSecond: config.refillPerSecond };
  if (config.store === 'memory') return createMemoryStore(policy, { now: deps.now });
  const digest = createHash('sha256')
    .update(JSON.stringify([config.key, config.capacity, config.refillPerSecond]))
    .digest('hex')
    .slice(0, 12);
  const keyPrefix = `${PLUGIN_DEFAULTS.rateLimit.keyPrefix}:${readInstanceEnv().system}:ratelimit:${digest}`;
  return createRedisStore(policy, { url: config.redisUrl, keyPrefix });
}

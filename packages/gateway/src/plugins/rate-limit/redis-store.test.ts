import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { redisReachable, scanKeys, unusedPort } from '../test-context.ts';
import { createRedisStore } from './redis-store.ts';
import { storeContract } from './store.contract.ts';

const REDIS_URL = 'redis://127.0.0.1:6379';
const redisUp = await redisReachable();

// Skipped only where Redis at 127.0.0.1:6379 is unreachable (a laptop without it): these tests need a
// real Redis; redisReachable() prints that they were skipped and why.
describe.skipIf(!redisUp)('redis store', () => {
  const prefix = `flotilla-test:${randomUUID()}`;

  afterAll(async () => {
    const admin = new Redis(REDIS_URL);
    try {
      const keys = await scanKeys(admin, `${prefix}:*`);
      if (keys.length > 0) await admin.del(...keys);
    } finally {
      await admin.quit();
    }
  });

  storeContract({
    create: (policy, now) => createRedisStore(policy, { url: REDIS_URL, keyPrefix: prefix, now }),
  });

  it('lets two gateway replicas sharing Redis allow exactly capacity requests out of 3x capacity sent at once', async () => {
    const policy = { capacity: 25, refillPerSecond: 0.001 };
    const replicas = [
      createRedisStore(policy, { url: REDIS_URL, keyPrefix: prefix }),
      createRedisStore(policy, { url: REDIS_URL, keyPrefix: prefix }),
    ];
    try {
      const key = `shared-${randomUUID()}`;
      const takes = await Promise.all(Array.from({ length: 75 }, (_, i) => replicas[i % 2]?.take(key)));
      expect(takes.filter((t) => t?.allowed)).toHaveLength(25);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  });

  it('refills by Redis TIME when no clock is injected', async () => {
    const store = createRedisStore(
      { capacity: 1, refillPerSecond: 2 },
      { url: REDIS_URL, keyPrefix: prefix },
    );
    try {
      const key = `time-${randomUUID()}`;
      expect((await store.take(key)).allowed).toBe(true);
      expect((await store.take(key)).allowed).toBe(false);
      await sleep(600);
      expect((await store.take(key)).allowed).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('lets a bucket key expire once the bucket would be full again', async () => {
    const store = createRedisStore(
      { capacity: 10, refillPerSecond: 5 },
      { url: REDIS_URL, keyPrefix: prefix },
    );
    const admin = new Redis(REDIS_URL);
    try {
      const key = `ttl-${randomUUID()}`;
      await store.take(key);
      const ttlMs = await admin.pttl(`${prefix}:${key}`);
      expect(ttlMs).toBeGreaterThan(2_000);
      expect(ttlMs).toBeLessThanOrEqual(3_000);
    } finally {
      await store.close();
      await admin.quit();
    }
  });
});

describe('redis store without Redis', () => {
  it('rejects a take at once instead of holding the request', async () => {
    const port = await unusedPort();
    const store = createRedisStore(
      { capacity: 1, refillPerSecond: 1 },
      { url: `redis://127.0.0.1:${port}`, keyPrefix: 'flotilla-test' },
    );
    try {
      const started = Date.now();
      await expect(store.take('anyone')).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      await store.close();
    }
  });
});

import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import type { BucketPolicy, RateLimitStore } from './store.ts';

/** How the contract suite builds a store of one implementation. */
export interface StoreHarness {
  /** A store for `policy` whose clock (in milliseconds) is `now`. */
  create(policy: BucketPolicy, now: () => number): RateLimitStore;
}

/**
 * The behaviour every rate-limit store shares, run by each implementation's test file inside its
 * own `describe`. Every test uses fresh keys and a manual clock, and closes its stores.
 */
export function storeContract(harness: StoreHarness): void {
  const opened: RateLimitStore[] = [];
  let nowMs = 0;

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });

  function open(capacity: number, refillPerSecond: number): RateLimitStore {
    nowMs = Date.UTC(2030, 0, 1);
    const store = harness.create({ capacity, refillPerSecond }, () => nowMs);
    opened.push(store);
    return store;
  }
  const freshKey = () => `client-${randomUUID()}`;
  const takeMany = (store: RateLimitStore, key: string, n: number) =>
    Promise.all(Array.from({ length: n }, () => store.take(key)));

  it('allows a new client a burst of exactly capacity requests, then refuses', async () => {
    const store = open(5, 1);
    const key = freshKey();
    const takes = [];
    for (let i = 0; i < 6; i++) takes.push(await store.take(key));
    expect(takes.map((t) => t.allowed)).toEqual([true, true, true, true, true, false]);
    expect(takes.map((t) => t.remaining)).toEqual([4, 3, 2, 1, 0, 0]);
  });

  it('allows exactly capacity requests out of many sent at once', async () => {
    const store = open(10, 1);
    const takes = await takeMany(store, freshKey(), 30);
    expect(takes.filter((t) => t.allowed)).toHaveLength(10);
  });

  it('refills at refillPerSecond: one more request after 1/refill seconds, not before', async () => {
    const store = open(2, 4);
    const key = freshKey();
    await takeMany(store, key, 2);
    nowMs += 200;
    expect((await store.take(key)).allowed).toBe(false);
    nowMs += 50;
    expect((await store.take(key)).allowed).toBe(true);
    expect((await store.take(key)).allowed).toBe(false);
  });

  it('never refills past capacity, however long the client was idle', async () => {
    const store = open(3, 10);
    const key = freshKey();
    await store.take(key);
    nowMs += 3_600_000;
    const takes = await takeMany(store, key, 5);
    expect(takes.filter((t) => t.allowed)).toHaveLength(3);
  });

  it('tells a refused client in whole seconds when the next token comes, at least 1', async () => {
    const slow = open(2, 0.5);
    const slowKey = freshKey();
    await takeMany(slow, slowKey, 2);
    expect(await slow.take(slowKey)).toMatchObject({ allowed: false, retryAfterS: 2 });
    nowMs += 1_000;
    expect(await slow.take(slowKey)).toMatchObject({ allowed: false, retryAfterS: 1 });

    const fast = open(1, 100);
    const fastKey = freshKey();
    await fast.take(fastKey);
    expect(await fast.take(fastKey)).toMatchObject({ allowed: false, retryAfterS: 1 });
  });

  it('reports the whole seconds until the bucket is full again as the reset time', async () => {
    const store = open(10, 2);
    const key = freshKey();
    expect(await store.take(key)).toMatchObject({ allowed: true, retryAfterS: 0, resetS: 1 });
    await takeMany(store, key, 2);
    expect(await store.take(key)).toMatchObject({ remaining: 6, resetS: 2 });
    nowMs += 2_000;
    expect(await store.take(key)).toMatchObject({ remaining: 9, resetS: 1 });
  });

  it('does not count half a token as a token', async () => {
    const store = open(1, 1);
    const key = freshKey();
    await store.take(key);
    nowMs += 500;
    expect(await store.take(key)).toMatchObject({ allowed: false, remaining: 0 });
    nowMs += 500;
    expect((await store.take(key)).allowed).toBe(true);
  });

  it('keeps the buckets of different keys apart', async () => {
    const store = open(1, 1);
    const [a, b] = [freshKey(), freshKey()];
    expect((await store.take(a)).allowed).toBe(true);
    expect((await store.take(a)).allowed).toBe(false);
    expect((await store.take(b)).allowed).toBe(true);
  });
}

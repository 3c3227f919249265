import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from './memory-store.ts';
import { storeContract } from './store.contract.ts';

describe('memory store', () => {
  storeContract({ create: (policy, now) => createMemoryStore(policy, { now }) });

  it('drops the least recently used bucket once it holds maxBuckets', async () => {
    const store = createMemoryStore({ capacity: 1, refillPerSecond: 0.001 }, { maxBuckets: 2, now: () => 0 });
    try {
      await store.take('a');
      await store.take('b');
      await store.take('a');
      await store.take('c');
      expect(store.size).toBe(2);
      expect((await store.take('a')).allowed).toBe(false);
      expect((await store.take('b')).allowed).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('sweeps buckets that have refilled, keeping the ones still draining', async () => {
    let nowMs = 0;
    const store = createMemoryStore(
      { capacity: 2, refillPerSecond: 1 },
      { now: () => nowMs, sweepIntervalMs: 10 },
    );
    try {
      await store.take('refills');
      nowMs = 500;
      await store.take('drains');
      nowMs = 1_000;
      await sleep(50);
      expect(store.size).toBe(1);
      expect((await store.take('drains')).remaining).toBe(0);
    } finally {
      await store.close();
    }
  });
});

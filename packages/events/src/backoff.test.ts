import { describe, expect, it } from 'vitest';
import { backoffMs } from './backoff.ts';

const policy = { initialDelayMs: 250, maxDelayMs: 30_000, jitter: 0.2 };

describe('backoffMs', () => {
  it.each([
    [1, 0.5, 250],
    [2, 0.5, 500],
    [3, 0.5, 1_000],
    [8, 0.5, 30_000],
    [50, 0.5, 30_000],
    [1, 0, 200],
    [1, 1, 300],
    [3, 0, 800],
  ])('waits before retry %i, with random %f, %i ms', (attempt, random, expected) => {
    expect(backoffMs(attempt, policy, () => random)).toBe(expected);
  });

  it('never goes above the cap, however the jitter falls', () => {
    expect(backoffMs(20, policy, () => 0.999)).toBe(30_000);
    expect(backoffMs(20, policy, () => 0)).toBe(24_000);
  });
});

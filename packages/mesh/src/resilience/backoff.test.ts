import { describe, expect, it } from 'vitest';
import { backoffMs } from './backoff.ts';

describe('backoffMs', () => {
  it.each([
    // retry, base, max, ceiling of the jitter window
    [1, 25, 250, 25],
    [2, 25, 250, 50],
    [3, 25, 250, 100],
    [4, 25, 250, 200],
    [5, 25, 250, 250],
    [10, 25, 250, 250],
    [2000, 25, 250, 250],
  ])('waits up to the window of retry %d (base %d ms, max %d ms): %d ms', (retry, base, max, ceiling) => {
    expect(backoffMs(retry, base, max, () => 0)).toBe(0);
    expect(backoffMs(retry, base, max, () => 0.5)).toBe(ceiling / 2);
    const almostOne = 1 - Number.EPSILON;
    expect(backoffMs(retry, base, max, () => almostOne)).toBeLessThan(ceiling);
    expect(backoffMs(retry, base, max, () => almostOne)).toBeCloseTo(ceiling, 9);
  });

  it('spreads waits over the whole window rather than bunching them at its top', () => {
    const waits = Array.from({ length: 10_000 }, () => backoffMs(3, 25, 250));
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...waits)).toBeLessThan(100);
    const mean = waits.reduce((sum, wait) => sum + wait, 0) / waits.length;
    // Uniform on [0, 100): mean 50, standard error of the mean about 0.3.
    expect(mean).toBeGreaterThan(47);
    expect(mean).toBeLessThan(53);
    expect(waits.filter((wait) => wait < 25).length).toBeGreaterThan(2000);
  });
});

import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './backoff.ts';

describe('backoffDelayMs', () => {
  it.each([
    [1, 100],
    [2, 200],
    [3, 400],
    [6, 3200],
    [7, 5000],
    [50, 5000],
  ])('waits at most the doubled delay, capped at 5 s (failure %d: %d ms)', (failures, ceilingMs) => {
    expect(backoffDelayMs(failures, 0.999_999)).toBeCloseTo(ceilingMs, 0);
    expect(backoffDelayMs(failures, 0)).toBe(ceilingMs / 2);
  });
});

import { describe, expect, it } from 'vitest';
import { SUPERVISOR_DEFAULTS } from '../defaults.ts';
import { restartDelayMs, standingFailures } from './restart-policy.ts';

const policy = SUPERVISOR_DEFAULTS.restart;

describe('restartDelayMs', () => {
  it.each([
    [1, 1_000],
    [2, 2_000],
    [3, 4_000],
    [4, 8_000],
    [5, 16_000],
    [6, 30_000],
    [7, 30_000],
    [10_000, 30_000],
  ])('waits, after failure number %i in a row, %i ms', (failures, expected) => {
    expect(restartDelayMs(failures, policy)).toBe(expected);
  });
});

describe('standingFailures', () => {
  const t0 = 1_700_000_000_000;
  it.each([
    ['never ready keeps every failure', 4, null, t0, 4],
    ['ready for less than a minute keeps them', 4, t0, t0 + 59_999, 4],
    ['ready for a full minute forgives them', 4, t0, t0 + 60_000, 0],
    ['ready for an hour forgives them', 9, t0, t0 + 3_600_000, 0],
    ['no failures stay none', 0, t0, t0 + 1, 0],
  ])('%s', (_name, failures, readySince, now, expected) => {
    expect(standingFailures(failures, readySince, now, policy)).toBe(expected);
  });
});

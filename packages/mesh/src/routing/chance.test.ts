import { describe, expect, it } from 'vitest';
import { chance, shouldMirror } from './chance.ts';

const draws = (value: number) => () => value;
const never = () => {
  throw new Error('drew a number it did not need');
};

describe('chance', () => {
  it.each([
    [0, 0, false],
    [100, 0.999_999, true],
    [50, 0.49, true],
    [50, 0.5, false],
    [0.5, 0.004, true],
    [0.5, 0.005, false],
  ])('takes %d%% of requests at draw %d: %s', (percent, random, expected) => {
    expect(chance(percent, draws(random))).toBe(expected);
  });

  it('decides 0% and 100% without drawing', () => {
    expect(chance(0, never)).toBe(false);
    expect(chance(100, never)).toBe(true);
  });
});

describe('shouldMirror', () => {
  it('mirrors nothing for a rule without a mirror', () => {
    expect(shouldMirror(undefined, never)).toBe(false);
  });

  it.each([
    [100, 0.99, true],
    [10, 0.05, true],
    [10, 0.1, false],
    [0, 0, false],
  ])('mirrors %d%% of requests (draw %d: %s)', (percent, random, expected) => {
    expect(shouldMirror({ subset: 'v2', percent }, draws(random))).toBe(expected);
  });
});

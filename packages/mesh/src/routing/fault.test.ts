import type { FaultSpec } from '@flotilla/spec';
import { describe, expect, it } from 'vitest';
import { decideFault, NO_FAULT } from './fault.ts';

/** Hands out the given draws in order, and fails on one more. */
function sequence(...values: number[]): () => number {
  return () => {
    const value = values.shift();
    if (value === undefined) throw new Error('drew more numbers than expected');
    return value;
  };
}

const delay = { fixedDelayMs: 300, percent: 50 };
const abort = { httpStatus: 503, percent: 20 };

describe('decideFault', () => {
  it.each<[string, FaultSpec | undefined, number[], { delayMs: number; abortStatus: number | undefined }]>([
    ['no fault', undefined, [], NO_FAULT],
    ['a delay that hits', { delay }, [0.4], { delayMs: 300, abortStatus: undefined }],
    ['a delay that misses', { delay }, [0.5], NO_FAULT],
    ['an abort that hits', { abort }, [0.1], { delayMs: 0, abortStatus: 503 }],
    ['an abort that misses', { abort }, [0.2], NO_FAULT],
    ['both hitting: delayed, then aborted', { delay, abort }, [0.1, 0.1], { delayMs: 300, abortStatus: 503 }],
    ['only the delay hitting', { delay, abort }, [0.1, 0.9], { delayMs: 300, abortStatus: undefined }],
    ['only the abort hitting', { delay, abort }, [0.9, 0.1], { delayMs: 0, abortStatus: 503 }],
    [
      '0% parts, without drawing',
      { delay: { ...delay, percent: 0 }, abort: { ...abort, percent: 0 } },
      [],
      NO_FAULT,
    ],
    [
      '100% parts, without drawing',
      { delay: { ...delay, percent: 100 }, abort: { ...abort, percent: 100 } },
      [],
      { delayMs: 300, abortStatus: 503 },
    ],
  ])('decides %s', (_, fault, draws, expected) => {
    expect(decideFault(fault, sequence(...draws))).toEqual(expected);
  });

  it('draws delay and abort independently, delay first', () => {
    const random = sequence(0.3, 0.7);
    expect(
      decideFault({ delay: { ...delay, percent: 40 }, abort: { ...abort, percent: 80 } }, random),
    ).toEqual({
      delayMs: 300,
      abortStatus: 503,
    });
  });

  it('returns the one shared, frozen decision when nothing happens', () => {
    expect(decideFault(undefined)).toBe(NO_FAULT);
    expect(decideFault({ delay }, () => 0.9)).toBe(NO_FAULT);
    expect(Object.isFrozen(NO_FAULT)).toBe(true);
  });
});

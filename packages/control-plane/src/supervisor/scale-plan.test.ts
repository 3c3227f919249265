import { describe, expect, it } from 'vitest';
import { planScale, type ScaleCandidate } from './scale-plan.ts';

const running = (...ns: number[]): ScaleCandidate[] => ns.map((n) => ({ id: `api-v1-${n}`, n }));

describe('planScale', () => {
  it.each([
    ['starts every replica from nothing', running(), 3, { add: 3, remove: [] }],
    ['does nothing at the desired count', running(1, 2), 2, { add: 0, remove: [] }],
    ['adds the missing ones', running(1), 3, { add: 2, remove: [] }],
    ['stops the newest first', running(1, 2, 3), 1, { add: 0, remove: ['api-v1-3', 'api-v1-2'] }],
    ['goes by number, not by list order', running(5, 2, 9), 2, { add: 0, remove: ['api-v1-9'] }],
    ['stops all at zero', running(4, 7), 0, { add: 0, remove: ['api-v1-7', 'api-v1-4'] }],
  ])('%s', (_name, current, desired, expected) => {
    expect(planScale(current, desired)).toEqual(expected);
  });
});

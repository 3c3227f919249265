import { describe, expect, it } from 'vitest';
import { MAX_EJECTION_MS, type OutlierDetectionPolicy, OutlierDetector } from './outlier-detector.ts';

const ENVOY_LIKE: OutlierDetectionPolicy = {
  consecutiveErrors: 5,
  baseEjectionMs: 30_000,
  maxEjectionPercent: 50,
};
const BASE = ENVOY_LIKE.baseEjectionMs;

function detector(policy: Partial<OutlierDetectionPolicy> = {}) {
  const clock = { ms: 1_000 };
  const wall = { ms: 1_700_000_000_000 };
  const changes = { count: 0 };
  const outliers = new OutlierDetector(
    { ...ENVOY_LIKE, ...policy },
    { now: () => clock.ms, wallClock: () => wall.ms, onChange: () => changes.count++ },
  );
  /** Records `count` errors in a row; the answer of the last. */
  const fail = (id: string, total: number, count = policy.consecutiveErrors ?? 5) => {
    let answer: 'ejected' | undefined;
    for (let i = 0; i < count; i++) answer = outliers.record(id, false, total);
    return answer;
  };
  return { outliers, clock, wall, changes, fail };
}

describe('OutlierDetector', () => {
  it('ejects an endpoint on its fifth error in a row', () => {
    const { outliers, fail } = detector();
    expect(fail('a', 3, 4)).toBeUndefined();
    expect(outliers.isEjected('a')).toBe(false);
    expect(outliers.record('a', false, 3)).toBe('ejected');
    expect(outliers.isEjected('a')).toBe(true);
    expect(outliers.isEjected('b')).toBe(false);
  });

  it('counts the endpoints held out, until it notices one is back', () => {
    const { outliers, clock, fail } = detector();
    expect(outliers.ejectedCount).toBe(0);
    fail('a', 4);
    fail('b', 4);
    expect(outliers.ejectedCount).toBe(2);
    clock.ms += BASE;
    expect(outliers.ejectedCount).toBe(2);
    expect(outliers.isEjected('a')).toBe(false);
    expect(outliers.ejectedCount).toBe(1);
  });

  it('does not eject after four errors, a success and four more', () => {
    const { outliers, fail } = detector();
    fail('a', 3, 4);
    expect(outliers.record('a', true, 3)).toBeUndefined();
    expect(fail('a', 3, 4)).toBeUndefined();
    expect(outliers.isEjected('a')).toBe(false);
  });

  it('keeps an endpoint out for baseEjectionMs, then returns it', () => {
    const { outliers, clock, fail } = detector();
    fail('a', 3);
    clock.ms += BASE - 1;
    expect(outliers.isEjected('a')).toBe(true);
    clock.ms += 1;
    expect(outliers.isEjected('a')).toBe(false);
  });

  it('keeps an endpoint out twice as long on its second ejection', () => {
    const { outliers, clock, fail } = detector();
    fail('a', 3);
    clock.ms += BASE;
    expect(fail('a', 3)).toBe('ejected');
    expect(outliers.ejected()[0]?.ejections).toBe(2);
    clock.ms += 2 * BASE - 1;
    expect(outliers.isEjected('a')).toBe(true);
    clock.ms += 1;
    expect(outliers.isEjected('a')).toBe(false);
  });

  it.each([
    // ms in rotation after returning from a second ejection, the ejection count of the third
    [0, 3],
    [BASE - 1, 3],
    [BASE, 2],
    [2 * BASE, 1],
    [10 * BASE, 1],
  ])(
    'forgives one ejection per full baseEjectionMs in rotation (%d ms in: count %d)',
    (inRotationMs, count) => {
      const { outliers, clock, fail } = detector();
      fail('a', 3);
      clock.ms += BASE;
      fail('a', 3);
      clock.ms += 2 * BASE + inRotationMs;
      expect(fail('a', 3)).toBe('ejected');
      expect(outliers.ejected()[0]?.ejections).toBe(count);
    },
  );

  it("stops lengthening ejections at Envoy's 300 s", () => {
    const { outliers, clock, fail } = detector();
    for (let i = 0; i < 15; i++) {
      fail('a', 3);
      clock.ms += BASE * outliers.ejected()[0]!.ejections;
    }
    fail('a', 3);
    expect(outliers.ejected()[0]?.ejections).toBe(MAX_EJECTION_MS / BASE);
  });

  it('never ejects the only endpoint', () => {
    const { outliers, fail } = detector({ maxEjectionPercent: 100 });
    expect(fail('a', 1, 50)).toBeUndefined();
    expect(outliers.isEjected('a')).toBe(false);
  });

  it('never ejects the last endpoint in rotation, even at 100%', () => {
    const { outliers, fail } = detector({ maxEjectionPercent: 100 });
    expect(fail('a', 2)).toBe('ejected');
    expect(fail('b', 2)).toBeUndefined();
    expect(outliers.isEjected('b')).toBe(false);
  });

  it('ejects one of three endpoints at 50%, and the next once the first is back', () => {
    const { outliers, clock, fail } = detector({ maxEjectionPercent: 50 });
    expect(fail('a', 3)).toBe('ejected');
    expect(fail('b', 3)).toBeUndefined();
    expect(outliers.isEjected('b')).toBe(false);
    clock.ms += BASE;
    // b kept its five errors: its next one asks again.
    expect(outliers.record('b', false, 3)).toBe('ejected');
    expect(outliers.isEjected('a')).toBe(false);
  });

  it.each([
    // percent, endpoints, how many may be out at once
    [50, 2, 1],
    [50, 3, 1],
    [50, 4, 2],
    [50, 10, 5],
    [10, 5, 1],
    [10, 30, 3],
    [100, 4, 3],
    [0, 10, 0],
  ])('at %d% of %d endpoints, ejects %d at once', (maxEjectionPercent, total, allowed) => {
    const { outliers, fail } = detector({ maxEjectionPercent });
    for (let i = 0; i < total; i++) fail(`e${i}`, total);
    expect(outliers.ejected()).toHaveLength(allowed);
  });

  it('does nothing with consecutiveErrors 0', () => {
    const { outliers, fail } = detector({ consecutiveErrors: 0 });
    expect(fail('a', 3, 100)).toBeUndefined();
    expect(outliers.isEjected('a')).toBe(false);
  });

  it('ignores answers that arrive while the endpoint is out', () => {
    const { outliers, clock, fail } = detector();
    fail('a', 3);
    fail('a', 3, 10);
    outliers.record('a', true, 3);
    clock.ms += BASE;
    expect(fail('a', 3, 4)).toBeUndefined();
    expect(outliers.record('a', false, 3)).toBe('ejected');
  });

  it('reports ejections with their end in wall-clock time', () => {
    const { outliers, clock, wall, fail } = detector();
    fail('a', 3);
    clock.ms += 5_000;
    wall.ms += 5_000;
    expect(outliers.ejected()).toEqual([{ endpoint: 'a', until: wall.ms - 5_000 + BASE, ejections: 1 }]);
    clock.ms += BASE;
    expect(outliers.ejected()).toEqual([]);
  });

  it('calls onChange on an ejection and on a return it notices', () => {
    const { outliers, clock, changes, fail } = detector();
    fail('a', 3);
    expect(changes.count).toBe(1);
    outliers.isEjected('a');
    expect(changes.count).toBe(1);
    clock.ms += BASE;
    outliers.isEjected('a');
    expect(changes.count).toBe(2);
    outliers.isEjected('a');
    expect(changes.count).toBe(2);
  });

  it('notices a return on the next record for that endpoint', () => {
    const { outliers, clock, changes, fail } = detector();
    fail('a', 3);
    clock.ms += BASE;
    expect(outliers.record('a', true, 3)).toBeUndefined();
    expect(changes.count).toBe(2);
    expect(outliers.ejected()).toEqual([]);
  });

  it('forgets endpoints that left the table, and says so when one was ejected', () => {
    const { outliers, changes, fail } = detector();
    fail('a', 3);
    fail('b', 3, 4);
    outliers.retain(new Set(['c']));
    expect(changes.count).toBe(2);
    expect(outliers.isEjected('a')).toBe(false);
    // b's four errors are gone with it.
    expect(outliers.record('b', false, 3)).toBeUndefined();
  });

  it('returns every endpoint when a new policy turns detection off', () => {
    const { outliers, changes, fail } = detector();
    fail('a', 3);
    outliers.configure({ ...ENVOY_LIKE, consecutiveErrors: 0 });
    expect(outliers.isEjected('a')).toBe(false);
    expect(changes.count).toBe(2);
  });

  it('ejects at a new threshold once a new policy lowers it', () => {
    const { outliers, fail } = detector();
    fail('a', 3, 2);
    outliers.configure({ ...ENVOY_LIKE, consecutiveErrors: 3 });
    expect(outliers.record('a', false, 3)).toBe('ejected');
  });
});

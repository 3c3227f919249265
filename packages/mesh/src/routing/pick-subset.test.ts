import { describe, expect, it } from 'vitest';
import type { Destination } from './compile-rules.ts';
import { pickSubset, type ReadySubset, type ServiceSubsets } from './pick-subset.ts';

/** A service whose ready versions are `weights`, stable `stableVersion`. */
function service(weights: Record<string, number>, stableVersion = 'v1'): ServiceSubsets<ReadySubset> {
  const ready = Object.entries(weights).map(([name, weight]) => ({ name, weight }));
  return { ready, readyWeight: ready.reduce((sum, v) => sum + v.weight, 0), stableVersion };
}

/** mulberry32: a seeded generator, so that the statistical tests are deterministic. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const draws = (value: number) => () => value;
const both = service({ v1: 80, v2: 20 });
const route = (...pairs: [string, number][]): Destination[] =>
  pairs.map(([subset, weight]) => ({ subset, weight }));

function pick(...args: Parameters<typeof pickSubset<ReadySubset>>): [string | undefined, boolean] {
  const choice = pickSubset(...args);
  return [choice.subset?.name, choice.fallback];
}

describe('pickSubset', () => {
  it.each<
    [
      string,
      Destination[] | undefined,
      string | undefined,
      ServiceSubsets<ReadySubset>,
      number,
      [string | undefined, boolean],
    ]
  >([
    ['(c) the service weights, low draw', undefined, undefined, both, 0.79, ['v1', false]],
    ['(c) the service weights, high draw', undefined, undefined, both, 0.8, ['v2', false]],
    [
      '(c) a weight-0 version only when no weighted one is ready',
      undefined,
      undefined,
      service({ dark: 0 }),
      0.5,
      ['dark', false],
    ],
    ['(b) a pin to a ready version', undefined, 'v2', both, 0.1, ['v2', false]],
    [
      '(b) a pin to a weight-0 version that is ready',
      undefined,
      'dark',
      service({ v1: 100, dark: 0 }),
      0.1,
      ['dark', false],
    ],
    [
      '(b) a pin to a version without endpoints: stable, as a fallback',
      undefined,
      'v3',
      both,
      0.99,
      ['v1', true],
    ],
    [
      '(b) a pin whose stable version has no endpoints: the weights, as a fallback',
      undefined,
      'v3',
      service({ v2: 20, v4: 80 }),
      0.1,
      ['v2', true],
    ],
    ['(b) an empty pin, as none', undefined, '', both, 0.9, ['v2', false]],
    ['(a) an explicit route, over a pin', route(['v2', 100]), 'v1', both, 0.1, ['v2', false]],
    [
      '(a) an explicit route, over a pin to a missing version',
      route(['v2', 100]),
      'v3',
      both,
      0.1,
      ['v2', false],
    ],
    [
      '(a) by the route weights, not the service ones',
      route(['v1', 10], ['v2', 90]),
      undefined,
      both,
      0.5,
      ['v2', false],
    ],
    [
      '(a) a destination without endpoints gives its share away',
      route(['v3', 90], ['v2', 10]),
      undefined,
      both,
      0.05,
      ['v2', false],
    ],
    [
      '(a) destinations all at weight 0 share evenly (first)',
      route(['v1', 0], ['v2', 0]),
      undefined,
      both,
      0.4,
      ['v1', false],
    ],
    [
      '(a) destinations all at weight 0 share evenly (second)',
      route(['v1', 0], ['v2', 0]),
      undefined,
      both,
      0.6,
      ['v2', false],
    ],
    [
      '(a) a weight-0 destination beside a weighted one, never',
      route(['v1', 0], ['v2', 5]),
      undefined,
      both,
      0.001,
      ['v2', false],
    ],
    ['(a) no destination with endpoints: nowhere', route(['v3', 100]), 'v1', both, 0.1, [undefined, false]],
    ['(a) an empty route: nowhere', [], undefined, both, 0.1, [undefined, false]],
    ['no ready version: nowhere', undefined, 'v1', service({}), 0.1, [undefined, false]],
  ])('chooses %s', (_, rule, pin, svc, random, expected) => {
    expect(pick(rule, pin, svc, draws(random))).toEqual(expected);
  });

  it('returns the entry of ready itself, so its endpoints need no second lookup', () => {
    const v2 = { name: 'v2', weight: 20, upstreams: ['b:1'] };
    const svc = {
      ready: [{ name: 'v1', weight: 80, upstreams: ['a:1'] }, v2],
      readyWeight: 100,
      stableVersion: 'v1',
    };
    expect(pickSubset(undefined, 'v2', svc).subset).toBe(v2);
  });

  it('draws at most once, and not at all for a pin', () => {
    let calls = 0;
    const counting = () => {
      calls++;
      return 0.5;
    };
    pickSubset(route(['v1', 50], ['v2', 50]), undefined, both, counting);
    pickSubset(undefined, undefined, both, counting);
    expect(calls).toBe(2);
    pickSubset(undefined, 'v2', both, counting);
    expect(calls).toBe(2);
  });

  // 2000 picks at p = 0.2: mean 400, sigma = sqrt(2000 * 0.2 * 0.8) ≈ 17.9; 4 sigma ≈ 72.
  const PICKS = 2000;
  const bound = 4 * Math.sqrt(PICKS * 0.2 * 0.8);
  it.each<[string, Destination[] | undefined, ServiceSubsets<ReadySubset>]>([
    ['the service weights', undefined, both],
    ['a rule route', route(['v1', 80], ['v2', 20]), service({ v1: 50, v2: 50 })],
    ['a rule route with a destination without endpoints', route(['v1', 80], ['v9', 50], ['v2', 20]), both],
  ])('splits 2000 picks 80/20 by %s within 4 sigma of the binomial mean', (_, rule, svc) => {
    const random = seeded(42);
    let v2 = 0;
    for (let i = 0; i < PICKS; i++) {
      if (pickSubset(rule, undefined, svc, random).subset?.name === 'v2') v2++;
    }
    expect(Math.abs(v2 - PICKS * 0.2)).toBeLessThan(bound);
  });

  it('never takes a pinned call off its version while it has endpoints', () => {
    const random = seeded(7);
    for (let i = 0; i < PICKS; i++) {
      expect(pickSubset(undefined, 'v2', both, random)).toEqual({ subset: both.ready[1], fallback: false });
    }
  });
});

import { describe, expect, it } from 'vitest';
import {
  type Balancer,
  type BalancerKind,
  createBalancer,
  LeastRequestBalancer,
  RoundRobinBalancer,
} from './index.ts';

interface Target {
  name: string;
  inFlight: number;
}

function targets(...names: string[]): Target[] {
  return names.map((name) => ({ name, inFlight: 0 }));
}

function countPicks(balancer: Balancer, list: readonly Target[], picks: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const name = balancer.pick(list)!.name;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

const kinds: BalancerKind[] = ['least-request', 'round-robin'];

describe.each(kinds)('the %s balancer (shared contract)', (kind) => {
  it('gives undefined for an empty list', () => {
    expect(createBalancer(kind).pick([])).toBeUndefined();
  });

  it('always picks the only endpoint of a single-endpoint list', () => {
    const balancer = createBalancer(kind);
    const only = targets('a');
    only[0]!.inFlight = 50;
    for (let i = 0; i < 100; i++) expect(balancer.pick(only)).toBe(only[0]);
  });

  it('picks only members of the list it is given', () => {
    const balancer = createBalancer(kind);
    const list = targets('a', 'b', 'c');
    for (let i = 0; i < 300; i++) expect(list).toContain(balancer.pick(list));
  });

  it('gives every endpoint traffic, in about equal shares when none is busier', () => {
    const counts = countPicks(createBalancer(kind), targets('a', 'b', 'c', 'd'), 4000);
    expect([...counts.keys()].sort()).toEqual(['a', 'b', 'c', 'd']);
    // Expected 1000 each; the standard deviation of a fair random pick is about 27.
    for (const count of counts.values()) expect(count).toBeGreaterThan(800);
  });

  it('keeps picking valid endpoints when the list shrinks and grows between calls', () => {
    const balancer = createBalancer(kind);
    const long = targets('a', 'b', 'c', 'd', 'e');
    const short = long.slice(0, 2);
    for (let i = 0; i < 50; i++) {
      expect(long).toContain(balancer.pick(long));
      expect(short).toContain(balancer.pick(short));
    }
  });
});

describe('the least-request balancer', () => {
  it('always picks the idler of two endpoints', () => {
    const list = targets('busy', 'idle');
    list[0]!.inFlight = 3;
    list[1]!.inFlight = 1;
    const counts = countPicks(new LeastRequestBalancer(), list, 500);
    expect(counts.get('idle')).toBe(500);
  });

  it('never picks the busiest of three endpoints', () => {
    const list = targets('a', 'b', 'slow');
    list[2]!.inFlight = 10;
    const counts = countPicks(new LeastRequestBalancer(), list, 1000);
    expect(counts.get('slow')).toBeUndefined();
    expect(counts.get('a')).toBeGreaterThan(300);
    expect(counts.get('b')).toBeGreaterThan(300);
  });

  it('compares two distinct endpoints even when the random source repeats itself', () => {
    const list = targets('a', 'b');
    list[0]!.inFlight = 1;
    expect(new LeastRequestBalancer(() => 0).pick(list)).toBe(list[1]);
  });
});

describe('the round-robin balancer', () => {
  it('visits every endpoint once per round, in order', () => {
    const list = targets('a', 'b', 'c');
    const balancer = new RoundRobinBalancer(() => 0);
    const names = Array.from({ length: 6 }, () => balancer.pick(list)!.name);
    expect(names).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('ignores how busy an endpoint is', () => {
    const list = targets('a', 'b');
    list[0]!.inFlight = 100;
    expect(countPicks(new RoundRobinBalancer(), list, 100).get('a')).toBe(50);
  });
});

describe('createBalancer', () => {
  it('builds the balancer named by its kind', () => {
    expect(createBalancer('least-request')).toBeInstanceOf(LeastRequestBalancer);
    expect(createBalancer('round-robin')).toBeInstanceOf(RoundRobinBalancer);
  });
});

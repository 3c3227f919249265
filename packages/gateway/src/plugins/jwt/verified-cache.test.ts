import { describe, expect, it } from 'vitest';
import { VerifiedCache, type VerifiedToken } from './verified-cache.ts';

const entry = (validFromMs: number, validUntilMs: number): VerifiedToken => ({
  subject: 's',
  roles: [],
  validFromMs,
  validUntilMs,
});

describe('VerifiedCache', () => {
  it('answers only inside the validity window, and forgets an expired token', () => {
    const cache = new VerifiedCache(10, 100);
    cache.set('t', entry(1_000, 2_000));
    expect(cache.get('t', 999)).toBeUndefined();
    expect(cache.get('t', 1_000)).toBeDefined();
    expect(cache.get('t', 1_999)).toBeDefined();
    expect(cache.get('t', 2_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('evicts the least recently used token when full', () => {
    const cache = new VerifiedCache(2, 100);
    cache.set('a', entry(0, 10));
    cache.set('b', entry(0, 10));
    cache.get('a', 1);
    cache.set('c', entry(0, 10));
    expect(cache.get('b', 1)).toBeUndefined();
    expect(cache.get('a', 1)).toBeDefined();
    expect(cache.get('c', 1)).toBeDefined();
  });

  it('does not keep tokens longer than its limit, so its memory stays bounded', () => {
    const cache = new VerifiedCache(10, 8);
    cache.set('x'.repeat(9), entry(0, 10));
    expect(cache.size).toBe(0);
  });
});

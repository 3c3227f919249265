import { describe, expect, it } from 'vitest';
import { closest, editDistance } from './suggest.ts';

describe('closest', () => {
  it.each([
    ['replica', ['replicas', 'path'], 'replicas'],
    ['ordrs', ['orders', 'users'], 'orders'],
    ['Replicas', ['replicas'], 'replicas'],
    ['xyz', ['replicas', 'path'], undefined],
  ])('suggests for %s among %j: %s', (word, candidates, expected) => {
    expect(closest(word, candidates)).toBe(expected);
  });

  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });
});

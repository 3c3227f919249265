import { describe, expect, it } from 'vitest';
import { chooseVersion } from './version-choice.ts';

const v1 = { name: 'v1', weight: 80 };
const v2 = { name: 'v2', weight: 20 };
const dark = { name: 'dark', weight: 0 };

describe('chooseVersion', () => {
  it.each([
    [0, 'v1'],
    [0.79, 'v1'],
    [0.8, 'v2'],
    [0.999, 'v2'],
  ])('splits 80/20 by weight (random %d gives %s)', (random, expected) => {
    expect(chooseVersion([v1, v2], 100, random)?.name).toBe(expected);
  });

  it('never chooses a weight-0 version while a weighted one has endpoints', () => {
    for (const random of [0, 0.25, 0.5, 0.75, 0.9999]) {
      expect(chooseVersion([dark, v2, dark], 20, random)).toBe(v2);
    }
  });

  it('gives the share of a version without endpoints to the others', () => {
    expect(chooseVersion([v2], 20, 0.99)).toBe(v2);
  });

  it('falls back to a weight-0 version rather than fail when no weighted version has endpoints', () => {
    const other = { name: 'other', weight: 0 };
    expect(chooseVersion([dark, other], 0, 0)).toBe(dark);
    expect(chooseVersion([dark, other], 0, 0.6)).toBe(other);
  });

  it('gives undefined when no version has endpoints', () => {
    expect(chooseVersion([], 0, 0.5)).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { formatDuration, formatSeconds } from './format-duration.ts';

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [3_400, '3s'],
    [59_999, '59s'],
    [130_000, '2m10s'],
    [65_000, '1m05s'],
    [3_720_000, '1h02m'],
    [86_400_000 + 4 * 3_600_000, '1d04h'],
    [-5_000, '0s'],
  ])('shows %i ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('formatSeconds', () => {
  it('shows seconds with one decimal', () => {
    expect(formatSeconds(2_149)).toBe('2.1 s');
  });
});

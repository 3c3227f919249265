import { describe, expect, it } from 'vitest';
import { type IssuedRecord, rootsToTrust } from './trusted-roots.ts';

const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const valid = (root: string): IssuedRecord => ({ root, notAfterMs: NOW + 60_000 });
const expired = (root: string): IssuedRecord => ({ root, notAfterMs: NOW - 1 });

describe('rootsToTrust', () => {
  it.each<{
    name: string;
    roots: string[];
    issued: [string, IssuedRecord][];
    live: string[];
    keep: string[];
  }>([
    {
      name: 'keeps the one root when there is no rotation',
      roots: ['A'],
      issued: [['orders-v1-1', valid('A')]],
      live: ['orders-v1-1'],
      keep: ['A'],
    },
    {
      name: 'keeps the old root while a live instance holds a certificate of it',
      roots: ['A', 'B'],
      issued: [
        ['orders-v1-1', valid('B')],
        ['orders-v1-2', valid('A')],
      ],
      live: ['orders-v1-1', 'orders-v1-2'],
      keep: ['A', 'B'],
    },
    {
      name: 'drops the old root once every live instance holds a certificate of the new one',
      roots: ['A', 'B'],
      issued: [
        ['orders-v1-1', valid('B')],
        ['gateway-v1-1', valid('B')],
      ],
      live: ['orders-v1-1', 'gateway-v1-1'],
      keep: ['B'],
    },
    {
      name: 'ignores the record of an instance that is no longer live',
      roots: ['A', 'B'],
      issued: [
        ['orders-v1-1', valid('B')],
        ['orders-v1-2', valid('A')],
      ],
      live: ['orders-v1-1'],
      keep: ['B'],
    },
    {
      name: 'ignores a certificate of the old root that has expired',
      roots: ['A', 'B'],
      issued: [['orders-v1-2', expired('A')]],
      live: ['orders-v1-2'],
      keep: ['B'],
    },
    {
      name: 'drops the old root at once when live instances hold no certificate at all',
      roots: ['A', 'B'],
      issued: [],
      live: ['orders-v1-1', 'users-v1-1'],
      keep: ['B'],
    },
    {
      name: 'keeps every older root still in use after two rotations, in order, and drops the unused one',
      roots: ['A', 'B', 'C'],
      issued: [
        ['orders-v1-1', valid('A')],
        ['users-v1-1', valid('C')],
      ],
      live: ['orders-v1-1', 'users-v1-1'],
      keep: ['A', 'C'],
    },
    {
      name: 'always keeps the newest root, even when nothing holds a certificate of it',
      roots: ['A', 'B'],
      issued: [['orders-v1-1', valid('A')]],
      live: ['orders-v1-1'],
      keep: ['A', 'B'],
    },
  ])('$name', ({ roots, issued, live, keep }) => {
    expect(rootsToTrust({ roots, issued: new Map(issued), live: new Set(live), nowMs: NOW })).toEqual(keep);
  });

  it('keeps every root while the hold after the last issue lasts, and drops the unused one after', () => {
    const issued = new Map([['orders-v1-1', valid('B')]]);
    const live = new Set(['orders-v1-1']);
    const input = { roots: ['A', 'B'], issued, live, holdUntilMs: NOW + 2_000 };
    expect(rootsToTrust({ ...input, nowMs: NOW })).toEqual(['A', 'B']);
    expect(rootsToTrust({ ...input, nowMs: NOW + 2_000 })).toEqual(['B']);
  });

  it('counts a certificate until the moment it expires and not after', () => {
    const issued = new Map([['orders-v1-1', { root: 'A', notAfterMs: NOW }]]);
    const live = new Set(['orders-v1-1']);
    expect(rootsToTrust({ roots: ['A', 'B'], issued, live, nowMs: NOW - 1 })).toEqual(['A', 'B']);
    expect(rootsToTrust({ roots: ['A', 'B'], issued, live, nowMs: NOW })).toEqual(['B']);
  });
});

import type { AuthorizationRule } from '@flotilla/spec';
import { describe, expect, it } from 'vitest';
import { allows } from './authorization.ts';

const rules: AuthorizationRule[] = [
  { from: ['orders'], methods: ['POST'], paths: ['/refunds/*', '/charges'] },
  { from: ['gateway', 'users'], paths: ['/status'] },
  { from: ['notifications'] },
];

describe('allows', () => {
  it.each([
    ['no policy lets anybody in', null, 'anyone', 'DELETE', '/x', true],
    ['no policy lets a caller without a workload in', null, undefined, 'GET', '/x', true],
    ['a policy refuses a caller without a workload', rules, undefined, 'GET', '/status', false],
    ['a rule allows its workload, method and exact path', rules, 'orders', 'POST', '/charges', true],
    ['an exact path does not match a longer one', rules, 'orders', 'POST', '/charges/1', false],
    ['a path ending in * matches by prefix', rules, 'orders', 'POST', '/refunds/7/notes', true],
    [
      'a prefix pattern does not match the bare prefix without its slash',
      rules,
      'orders',
      'POST',
      '/refunds',
      false,
    ],
    ['another method is refused', rules, 'orders', 'GET', '/charges', false],
    ['a rule without methods allows every method', rules, 'users', 'DELETE', '/status', true],
    ['a workload named in no rule is refused', rules, 'payments', 'GET', '/status', false],
    [
      'a rule with neither methods nor paths allows everything of its workload',
      rules,
      'notifications',
      'PUT',
      '/a/b',
      true,
    ],
    ['an empty policy refuses everybody', [], 'orders', 'GET', '/', false],
  ] as const)('%s', (_name, policy, workload, method, path, expected) => {
    expect(allows(policy, workload, method, path)).toBe(expected);
  });
});

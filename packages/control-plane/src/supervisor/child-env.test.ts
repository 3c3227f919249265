import { ENV } from '@flotilla/spec';
import { describe, expect, it } from 'vitest';
import type { Workload } from '../types.ts';
import { childEnv } from './child-env.ts';

const probe = { path: '/healthz', periodMs: 100, timeoutMs: 100, failureThreshold: 1, initialDelayMs: 0 };
const workload: Workload = {
  name: 'orders',
  kind: 'service',
  cwd: '/srv/orders',
  versions: { v2: { replicas: 1, entry: 'src/main.ts', env: { FEATURE: 'on', SHARED: 'version' } } },
  env: { SHARED: 'workload', [ENV.port]: '1', [ENV.instanceToken]: 'spoofed', DATABASE_URL: 'postgres://db' },
  probes: { liveness: probe, readiness: probe },
  terminationGracePeriodMs: 5_000,
  startupTimeoutMs: 10_000,
};

describe('childEnv', () => {
  const env = childEnv(
    { workload, version: 'v2', instance: 'orders-v2-7', port: 41_234, token: 'instance-token-1' },
    {
      PATH: '/usr/bin',
      HOME: '/home/me',
      LANG: 'C.UTF-8',
      AWS_SECRET_ACCESS_KEY: 'secret',
      NODE_OPTIONS: '-r x',
    },
  );

  it('inherits only PATH, HOME and LANG from the control plane', () => {
    expect(env.PATH).toBe('/usr/bin');
    expect(env.HOME).toBe('/home/me');
    expect(env.LANG).toBe('C.UTF-8');
    expect(env).not.toHaveProperty('AWS_SECRET_ACCESS_KEY');
    expect(env).not.toHaveProperty('NODE_OPTIONS');
  });

  it('lets the version env win over the workload env', () => {
    expect(env.SHARED).toBe('version');
    expect(env.FEATURE).toBe('on');
    expect(env.DATABASE_URL).toBe('postgres://db');
  });

  it('sets the instance contract last, so no spec can override it', () => {
    expect(env[ENV.service]).toBe('orders');
    expect(env[ENV.version]).toBe('v2');
    expect(env[ENV.instance]).toBe('orders-v2-7');
    expect(env[ENV.host]).toBe('127.0.0.1');
    expect(env[ENV.port]).toBe('41234');
    expect(env[ENV.gracePeriodMs]).toBe('5000');
    expect(env[ENV.instanceToken]).toBe('instance-token-1');
  });
});

import { ENV } from '@flotilla/spec';
import { afterEach, describe, expect, it } from 'vitest';
import type { LogLine } from '../types.ts';
import { SupervisorError } from './errors.ts';
import { exists, get, type Harness, harness, testWorkload } from './fixtures/harness.ts';

let h: Harness | undefined;

afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

describe('Supervisor', () => {
  it('starts every desired instance, each ready on its own port with the instance contract and no leaked secret', async () => {
    const api = testWorkload('api', 'service', { replicas: 2, env: { GREETING: 'hi' } });
    api.versions.v2 = { replicas: 1, entry: 'service.ts', env: { GREETING: 'hello' } };
    h = harness([api]);
    process.env.FLOTILLA_TEST_SECRET = 'hunter2';
    try {
      await h.supervisor.start();
    } finally {
      delete process.env.FLOTILLA_TEST_SECRET;
    }

    const instances = h.supervisor.instances();
    expect(instances.map((i) => [i.id, i.version, i.state, i.restarts])).toEqual([
      ['api-v1-1', 'v1', 'ready', 0],
      ['api-v1-2', 'v1', 'ready', 0],
      ['api-v2-1', 'v2', 'ready', 0],
    ]);
    expect(new Set(instances.map((i) => i.port)).size).toBe(3);
    expect(new Set(instances.map((i) => i.pid)).size).toBe(3);
    for (const instance of instances) {
      expect(instance.startedAt).not.toBeNull();
      expect(instance.readySince).not.toBeNull();
      expect((await get(instance.port, '/healthz')).status).toBe(200);
    }
    const v2 = h.current('api-v2-1');
    const env = JSON.parse((await get(v2.port, '/env')).body) as Record<string, string>;
    expect(env).toMatchObject({
      [ENV.service]: 'api',
      [ENV.version]: 'v2',
      [ENV.instance]: 'api-v2-1',
      [ENV.host]: '127.0.0.1',
      [ENV.port]: String(v2.port),
      [ENV.gracePeriodMs]: '1000',
      GREETING: 'hello',
    });
    expect(env).not.toHaveProperty('FLOTILLA_TEST_SECRET');
    expect(h.supervisor.desiredReplicas('api')).toEqual({ v1: 2, v2: 1 });
  });

  it('captures stdout and stderr lines with stream and instance, and follows new ones', async () => {
    h = harness([testWorkload('api', 'service')]);
    await h.supervisor.start();
    const { port } = h.current('api-v1-1');
    const captured = h.logs.tail({ instance: 'api-v1-1' }, 10).map((l) => [l.stream, l.line]);
    expect(captured).toContainEqual(['stdout', `listening on ${port}`]);
    expect(captured).toContainEqual(['stderr', 'a line on stderr']);

    const followed: LogLine[] = [];
    const unsubscribe = h.logs.subscribe({ workload: 'api' }, (line) => followed.push(line));
    await get(port, '/log?stream=stderr&text=followed%20line');
    await expect.poll(() => followed.map((l) => l.line)).toContain('followed line');
    unsubscribe();
    expect(followed.find((l) => l.line === 'followed line')).toMatchObject({
      instance: 'api-v1-1',
      service: 'api',
      version: 'v1',
      stream: 'stderr',
    });
  });

  it('shows an instance whose readiness fails as unready within two probe periods, without restarting it, and ready again', async () => {
    const periodMs = 250;
    const api = testWorkload('api', 'service');
    api.probes.readiness.periodMs = periodMs;
    h = harness([api]);
    await h.supervisor.start();
    const before = h.current('api-v1-1');

    const unready = new Promise<number>((resolve) => {
      const off = h!.supervisor.onChange(() => {
        if (h!.current('api-v1-1').state === 'unready') {
          off();
          resolve(Date.now());
        }
      });
    });
    const toggledAt = Date.now();
    await get(before.port, '/toggle-ready');
    expect((await unready) - toggledAt).toBeLessThanOrEqual(2 * periodMs);
    expect(h.current('api-v1-1')).toMatchObject({
      state: 'unready',
      readySince: null,
      pid: before.pid,
      restarts: 0,
    });

    await get(before.port, '/toggle-ready');
    await expect.poll(() => h!.current('api-v1-1').state, { timeout: 2 * periodMs + 500 }).toBe('ready');
    expect(h.current('api-v1-1')).toMatchObject({ pid: before.pid, restarts: 0 });
  });

  it('restarts an instance whose liveness probe fails, under the same id, saying why', async () => {
    h = harness([testWorkload('api', 'service')]);
    await h.supervisor.start();
    const before = h.current('api-v1-1');
    await get(before.port, '/toggle-live');

    await expect.poll(() => h!.current('api-v1-1').restarts, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => h!.current('api-v1-1').state, { timeout: 10_000 }).toBe('ready');
    const after = h.current('api-v1-1');
    expect(after.pid).not.toBe(before.pid);
    expect(exists(before.pid!)).toBe(false);
    expect(after.lastExit?.reason).toBe('liveness probe failed 2 times (HTTP 500: dead)');
    const states = h.statesOf('api-v1-1');
    expect(states.slice(0, 2)).toEqual(['starting', 'ready']);
    expect(states.slice(-4)).toEqual(['stopping', 'crashloop', 'starting', 'ready']);
  });

  it('scales up with new instances and down by stopping the newest first, never reusing a number', async () => {
    h = harness([testWorkload('api', 'service')]);
    await h.supervisor.start();

    await h.supervisor.scale('api', 3);
    expect(h.supervisor.instances().map((i) => [i.id, i.state])).toEqual([
      ['api-v1-1', 'ready'],
      ['api-v1-2', 'ready'],
      ['api-v1-3', 'ready'],
    ]);
    const removed = h.supervisor.instances().slice(1);

    await h.supervisor.scale('api', 1, 'v1');
    expect(h.supervisor.instances().map((i) => i.id)).toEqual(['api-v1-1']);
    for (const instance of removed) {
      expect(exists(instance.pid!)).toBe(false);
      expect(h.statesOf(instance.id).slice(-2)).toEqual(['stopping', 'stopped']);
    }

    await h.supervisor.scale('api', 2);
    expect(h.supervisor.instances().map((i) => [i.id, i.state])).toEqual([
      ['api-v1-1', 'ready'],
      ['api-v1-4', 'ready'],
    ]);
    expect(h.supervisor.desiredReplicas('api')).toEqual({ v1: 2 });
  });

  it('only records a scale asked for before start, and start brings it in', async () => {
    h = harness([testWorkload('api', 'service', { replicas: 0 })]);
    await h.supervisor.scale('api', 2);
    expect(h.supervisor.desiredReplicas('api')).toEqual({ v1: 2 });
    expect(h.supervisor.instances()).toEqual([]);
    await h.supervisor.start();
    expect(h.supervisor.instances().map((i) => [i.id, i.state])).toEqual([
      ['api-v1-1', 'ready'],
      ['api-v1-2', 'ready'],
    ]);
  });

  it('refuses to scale what does not exist or to a count that is not a whole number', async () => {
    h = harness([testWorkload('api', 'service', { replicas: 0 })]);
    await h.supervisor.start();
    await expect(h.supervisor.scale('apj', 1)).rejects.toMatchObject({
      code: 'FLOTILLA_UNKNOWN_WORKLOAD',
      message: expect.stringContaining('did you mean "api"'),
    });
    await expect(h.supervisor.scale('api', 1, 'v9')).rejects.toMatchObject({
      code: 'FLOTILLA_UNKNOWN_VERSION',
    });
    await expect(h.supervisor.scale('api', -1)).rejects.toBeInstanceOf(SupervisorError);
    await expect(h.supervisor.scale('api', 1.5)).rejects.toMatchObject({ code: 'FLOTILLA_INVALID_REPLICAS' });
    expect(() => h!.supervisor.desiredReplicas('nope')).toThrow(SupervisorError);
    expect(h.supervisor.instances()).toEqual([]);
  });

  it('kills an instance that is not ready within startupTimeoutMs, says what its readiness answered, and counts it as a failed start', async () => {
    h = harness([testWorkload('api', 'service', { startupTimeoutMs: 800, env: { FIXTURE_READY: 'false' } })]);
    const started = Date.now();
    await h.supervisor.start();
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);

    const status = h.current('api-v1-1');
    expect(status).toMatchObject({ state: 'crashloop', pid: null, restarts: 0 });
    expect(status.lastExit).toMatchObject({
      reason: 'not ready within 800 ms (last readiness probe: HTTP 503: unready)',
    });
    expect(Date.parse(status.nextRestartAt!) - Date.parse(status.lastExit!.at)).toBe(1_000);
  });
});

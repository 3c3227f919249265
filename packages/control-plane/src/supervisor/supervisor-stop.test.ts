import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exists, fixture, get, type Harness, harness, testWorkload } from './fixtures/harness.ts';
import { isRunning } from './process-group.ts';

let h: Harness | undefined;

afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

describe('Supervisor stop', () => {
  it('announces stopping first, sends SIGTERM after the deregistration delay, and lets an in-flight request finish', async () => {
    h = harness([testWorkload('api', 'service')], { deregistrationDelayMs: 300 });
    await h.supervisor.start();
    const { port, pid } = h.current('api-v1-1');
    let stoppingAt = 0;
    let runningWhenAnnounced = false;
    h.supervisor.onChange(() => {
      if (stoppingAt === 0 && h!.supervisor.instances().some((i) => i.state === 'stopping')) {
        stoppingAt = Date.now();
        runningWhenAnnounced = exists(pid!);
      }
    });

    const inFlight = get(port, '/slow?ms=800');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await h.supervisor.stop();

    expect(await inFlight).toEqual({ status: 200, body: 'slow done' });
    const sigterm = h.logs.tail({ instance: 'api-v1-1' }, 50).find((l) => l.line.startsWith('SIGTERM at '));
    const sigtermAt = Number(sigterm?.line.slice('SIGTERM at '.length));
    expect(stoppingAt).toBeGreaterThan(0);
    expect(runningWhenAnnounced).toBe(true);
    expect(sigtermAt - stoppingAt).toBeGreaterThanOrEqual(290);
    expect(h.history.at(-1)).toMatchObject({ id: 'api-v1-1', state: 'stopped', pid: null });
    expect(h.history.at(-1)?.lastExit).toMatchObject({ code: 0, reason: 'exited with code 0' });
    expect(h.supervisor.instances()).toEqual([]);
    expect(exists(pid!)).toBe(false);
  });

  it('kills an instance that ignores SIGTERM with SIGKILL once its grace period is over', async () => {
    h = harness([
      testWorkload('stubborn', 'stubborn', { terminationGracePeriodMs: 700 }),
      testWorkload('api', 'service'),
    ]);
    await h.supervisor.start();
    const pids = h.supervisor.instances().map((i) => i.pid!);
    const started = Date.now();
    await h.supervisor.stop();
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);

    const last = (id: string) => h!.history.filter((s) => s.id === id).at(-1);
    expect(last('stubborn-v1-1')?.lastExit).toMatchObject({ signal: 'SIGKILL', reason: 'killed by SIGKILL' });
    expect(last('api-v1-1')?.lastExit).toMatchObject({ code: 0, reason: 'exited with code 0' });
    expect(h.logs.tail({ workload: 'stubborn' }, 10).map((l) => l.line)).toContain('ignoring SIGTERM');
    for (const pid of pids) expect(exists(pid)).toBe(false);
  });

  it('stops gateways before services', async () => {
    h = harness([testWorkload('api', 'service'), testWorkload('edge', 'service', { kind: 'gateway' })]);
    await h.supervisor.start();
    await h.supervisor.stop();
    const stopped = h.history.filter((s) => s.state === 'stopped').map((s) => s.id);
    expect([...new Set(stopped)]).toEqual(['edge-v1-1', 'api-v1-1']);
  });

  it('records running processes in pids.json and leaves no process behind, helpers included', async () => {
    h = harness([testWorkload('api', 'service', { replicas: 2, env: { FIXTURE_HELPER: '1' } })]);
    await h.supervisor.start();
    const pidFile = () => JSON.parse(readFileSync(join(h!.stateDir, 'pids.json'), 'utf8'));
    const instances = h.supervisor.instances();
    expect(pidFile()).toMatchObject({
      'api-v1-1': { pid: instances[0]!.pid, entry: fixture('service'), workload: 'api', n: 1 },
      'api-v1-2': { pid: instances[1]!.pid, entry: fixture('service'), workload: 'api', n: 2 },
    });
    const helpers = h.logs
      .tail({ workload: 'api' }, 50)
      .filter((l) => l.line.startsWith('helper '))
      .map((l) => Number(l.line.slice('helper '.length)));
    expect(helpers).toHaveLength(2);
    for (const helper of helpers) expect(isRunning(helper)).toBe(true);

    await h.supervisor.stop();
    for (const instance of instances) expect(exists(instance.pid!)).toBe(false);
    // Helpers are grandchildren, collected by init rather than by us, so "gone" means not running.
    await expect.poll(() => helpers.filter(isRunning), { timeout: 2_000 }).toEqual([]);
    expect(pidFile()).toEqual({});
  });

  it('refuses to scale once stopped', async () => {
    h = harness([testWorkload('api', 'service', { replicas: 0 })]);
    await h.supervisor.start();
    await h.supervisor.stop();
    await expect(h.supervisor.scale('api', 1)).rejects.toMatchObject({ code: 'FLOTILLA_SUPERVISOR_STOPPED' });
  });
});

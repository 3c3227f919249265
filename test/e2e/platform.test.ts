import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alive,
  helloSpec,
  processesOf,
  type RunningSystem,
  startSystem,
  steadyLoad,
  waitFor,
} from './support.ts';

interface Greeting {
  greeter: string;
  clock: string;
  greetings: number;
}

/**
 * The whole platform as a user runs it: `flotilla up` from the CLI, the example system of two
 * services with two replicas each, the gateway, the embedded PostgreSQL. Nothing is mocked.
 */
describe('flotilla up with the example system', () => {
  const name = `e2e-${randomBytes(3).toString('hex')}`;
  let sys: RunningSystem;

  beforeAll(async () => {
    sys = await startSystem(helloSpec(name));
  }, 90_000);

  afterAll(async () => {
    if (sys && sys.cli.exitCode === null) sys.cli.kill('SIGKILL');
    for (const pid of sys ? processesOf(name, sys.dir) : []) process.kill(pid, 'SIGKILL');
  });

  it('reports where the gateway and the admin API listen and how long start-up took', () => {
    expect(sys.output()).toContain(sys.gatewayUrl);
    expect(sys.output()).toContain(sys.adminUrl);
    expect(sys.output()).toMatch(/ready in \d+(\.\d+)? ?m?s/);
  });

  it('spreads traffic through the gateway over every replica of both services', async () => {
    const greeters = new Set<string>();
    const clocks = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const res = await fetch(`${sys.gatewayUrl}/greet?name=Ada`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as Greeting;
      greeters.add(body.greeter);
      clocks.add(body.clock);
    }
    const ids = async (service: string) => (await sys.instances(service)).map((i) => i.id).sort();
    expect([...greeters].sort()).toEqual(await ids('greeter'));
    expect([...clocks].sort()).toEqual(await ids('clock'));
    expect(greeters.size).toBe(2);
    expect(clocks.size).toBe(2);
  });

  it('restarts a replica killed with SIGKILL, failing no request beyond those in flight on it', async () => {
    const concurrency = 4;
    const load = steadyLoad(`${sys.gatewayUrl}/greet?name=Grace`, concurrency);
    await sleep(500);
    const [victim] = await sys.instances('greeter');
    process.kill(victim!.pid!, 'SIGKILL');
    await waitFor('the killed replica to be restarted and ready', async () => {
      const now = (await sys.instances('greeter')).find((i) => i.id === victim!.id);
      return now?.restarts === 1 && now.state === 'ready' && now.pid !== victim!.pid;
    });
    await sleep(500);
    const result = await load.stop();
    expect(result.ok).toBeGreaterThan(50);
    expect(result.failures.length).toBeLessThanOrEqual(concurrency);
  });

  it('stops sending traffic to a replica whose readiness turns false within two probe periods', async () => {
    const [target, other] = await sys.instances('clock');
    const set = (ready: boolean) =>
      fetch(`http://127.0.0.1:${target!.port}/ready`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ready }),
      });
    expect((await set(false)).status).toBe(200);
    const periodMs = 200;
    await sleep(2 * periodMs);
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${sys.gatewayUrl}/time`);
      expect(res.status).toBe(200);
      seen.add(((await res.json()) as { instance: string }).instance);
    }
    expect([...seen]).toEqual([other!.id]);
    expect((await sys.instances('clock')).find((i) => i.id === target!.id)?.state).toBe('unready');

    await set(true);
    await waitFor('the replica to be ready again', async () =>
      (await sys.instances('clock')).every((i) => i.state === 'ready'),
    );
  });

  it('scales up and down under a steady load without a failed request', async () => {
    const load = steadyLoad(`${sys.gatewayUrl}/greet?name=Linus`, 4);
    const scale = (replicas: number) => sys.cliRun(['scale', 'greeter', String(replicas)]);
    expect(await scale(3)).toMatchObject({ code: 0 });
    await waitFor(
      '3 ready greeters',
      async () => (await sys.instances('greeter')).filter((i) => i.state === 'ready').length === 3,
    );
    await sleep(500);
    expect(await scale(1)).toMatchObject({ code: 0 });
    await waitFor('1 greeter left', async () => (await sys.instances('greeter')).length === 1);
    await sleep(500);
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    const served = new Set(result.bodies.map((b) => (b as Greeting).greeter));
    expect(served.size).toBeGreaterThanOrEqual(3);
  });

  it('stops every process it started on Ctrl-C', async () => {
    const pids = (await sys.status()).services.flatMap((s) => s.instances.map((i) => i.pid!)).filter(Boolean);
    expect(pids.length).toBeGreaterThanOrEqual(4);
    sys.cli.kill('SIGINT');
    await waitFor('flotilla up to exit', () => sys.cli.exitCode !== null, 20_000);
    expect(sys.cli.exitCode).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
    expect(processesOf(name, sys.dir)).toEqual([]);
  });
});

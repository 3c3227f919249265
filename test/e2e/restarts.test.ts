import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  alive,
  helloSpec,
  processesOf,
  type RunningSystem,
  startSystem,
  tempDir,
  waitFor,
} from './support.ts';

async function greet(sys: RunningSystem, name: string): Promise<{ status: number; greetings?: number }> {
  const res = await fetch(`${sys.gatewayUrl}/greet?name=${name}`, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { greetings?: number };
  return { status: res.status, greetings: body.greetings };
}

async function interrupt(sys: RunningSystem): Promise<void> {
  sys.cli.kill('SIGINT');
  await waitFor('flotilla up to exit', () => sys.cli.exitCode !== null, 20_000);
  expect(sys.cli.exitCode).toBe(0);
}

/**
 * What outlives a control plane: traffic while it is gone (the data plane keeps its last routing
 * table), and data across runs (the embedded PostgreSQL keeps its files in .flotilla/).
 */
describe('the system across control-plane restarts', () => {
  const name = `e2e-${randomBytes(3).toString('hex')}`;
  const dir = tempDir();
  const started: RunningSystem[] = [];

  afterAll(() => {
    for (const sys of started) if (sys.cli.exitCode === null) sys.cli.kill('SIGKILL');
    for (const pid of processesOf(name, dir)) process.kill(pid, 'SIGKILL');
  });

  it('keeps serving through the gateway and between services while the control plane is dead, and a new one adopts them as they run', async () => {
    const first = await startSystem(helloSpec(name), dir);
    started.push(first);
    const before = await greet(first, 'Ada');
    expect(before).toMatchObject({ status: 200, greetings: 1 });
    const instances = (await first.status()).services.flatMap((s) => s.instances.map((i) => i.pid!));

    first.cli.kill('SIGKILL');
    await waitFor(
      'the control plane to die',
      () => first.cli.exitCode !== null || first.cli.signalCode !== null,
    );
    const outcomes: number[] = [];
    for (let i = 0; i < 50; i++) outcomes.push((await greet(first, 'Ada')).status);
    expect(outcomes.filter((s) => s !== 200)).toEqual([]);
    expect(instances.every(alive)).toBe(true);

    const second = await startSystem(helloSpec(name), dir);
    started.push(second);
    expect(instances.filter(alive)).toEqual(instances);
    expect((await second.status()).services.flatMap((s) => s.instances.map((i) => i.pid!))).toEqual(
      instances,
    );
    expect(await greet(second, 'Ada')).toEqual({ status: 200, greetings: 52 });
    await interrupt(second);
  }, 120_000);

  it('finds committed data again after a clean stop, and leaves no process behind', async () => {
    const third = await startSystem(helloSpec(name), dir);
    started.push(third);
    expect(await greet(third, 'Ada')).toEqual({ status: 200, greetings: 53 });
    await interrupt(third);
    expect(processesOf(name, dir)).toEqual([]);
  }, 60_000);

  it('stops every instance on Ctrl-C even when nothing reads its output any more (a closed pipe)', async () => {
    const sys = await startSystem(helloSpec(name), dir);
    started.push(sys);
    const pids = (await sys.status()).services.flatMap((s) => s.instances.map((i) => i.pid!));
    sys.cli.stdout!.destroy();
    sys.cli.stderr!.destroy();
    sys.cli.kill('SIGINT');
    await waitFor('flotilla up to exit', () => sys.cli.exitCode !== null, 20_000);
    expect(pids.filter(alive)).toEqual([]);
    expect(processesOf(name, dir)).toEqual([]);
  }, 60_000);
});

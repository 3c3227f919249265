import { afterEach, describe, expect, it } from 'vitest';
import type { InstanceStatus } from '../types.ts';
import { exists, type Harness, harness, testWorkload } from './fixtures/harness.ts';

let h: Harness | undefined;

afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

const waitMs = (status: InstanceStatus): number =>
  Date.parse(status.nextRestartAt!) - Date.parse(status.lastExit!.at);

describe('Supervisor restarts', () => {
  it('notices an instance killed with SIGKILL and restarts it under the same id, through crashloop', async () => {
    h = harness([testWorkload('api', 'service', { replicas: 2 })]);
    await h.supervisor.start();
    const victim = h.current('api-v1-2');
    process.kill(victim.pid!, 'SIGKILL');

    await expect.poll(() => h!.current('api-v1-2').state, { timeout: 5_000 }).toBe('crashloop');
    const waiting = h.current('api-v1-2');
    expect(waiting).toMatchObject({ pid: null, restarts: 0, readySince: null, startedAt: null });
    expect(waiting.lastExit).toMatchObject({ code: null, signal: 'SIGKILL', reason: 'killed by SIGKILL' });
    expect(waitMs(waiting)).toBe(1_000);

    await expect.poll(() => h!.current('api-v1-2').state, { timeout: 10_000 }).toBe('ready');
    const restarted = h.current('api-v1-2');
    expect(restarted).toMatchObject({ restarts: 1, nextRestartAt: null });
    expect(restarted.pid).not.toBe(victim.pid);
    expect(exists(victim.pid!)).toBe(false);
    // A readiness probe may see the dead port before the exit is reported, so `unready` may come
    // between; the restart itself always goes through crashloop.
    const states = h.statesOf('api-v1-2');
    expect(states.slice(0, 2)).toEqual(['starting', 'ready']);
    expect(states.slice(-3)).toEqual(['crashloop', 'starting', 'ready']);
    expect(h.current('api-v1-1')).toMatchObject({ state: 'ready', restarts: 0 });
  });

  it('backs off a crash-looping instance 1 s, then 2 s, keeping its id and counting restarts', async () => {
    const offsetMs = 1_000_000;
    h = harness([testWorkload('crasher', 'crash')], { clock: { now: () => Date.now() + offsetMs } });
    const started = Date.now();
    await h.supervisor.start();
    expect(Date.now() - started).toBeLessThan(5_000);

    const crashloops = () => h!.history.filter((s) => s.state === 'crashloop' && s.nextRestartAt !== null);
    await expect.poll(() => crashloops().length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    const [first, second] = crashloops();
    expect(first).toMatchObject({ id: 'crasher-v1-1', restarts: 0 });
    expect(second).toMatchObject({ id: 'crasher-v1-1', restarts: 1 });
    expect(first!.lastExit).toMatchObject({ code: 1, signal: null, reason: 'exited with code 1' });
    expect([waitMs(first!), waitMs(second!)]).toEqual([1_000, 2_000]);
    const relaunch = h.history.find(
      (s) => s.state === 'starting' && s.restarts === 1 && s.startedAt !== null,
    );
    expect(Date.parse(relaunch!.startedAt!) - Date.parse(first!.lastExit!.at)).toBeGreaterThanOrEqual(1_000);
    // The injected clock, not the wall clock, stamps what the decisions saw.
    expect(Date.parse(first!.lastExit!.at)).toBeGreaterThanOrEqual(started + offsetMs);
    expect(h.logs.tail({ instance: 'crasher-v1-1' }, 10).map((l) => [l.stream, l.line])).toContainEqual([
      'stderr',
      'boom: cannot start',
    ]);
  });
});

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pickFreePort } from '../state/free-port.ts';
import { fixture, get } from './fixtures/harness.ts';
import { isRunning, signalGroup } from './process-group.ts';
import { reapLeftovers } from './reap-leftovers.ts';

let stateDir: string;
const started: number[] = [];

/** A fixture running detached, as an instance of a previous run would be, once it answers. */
async function leftover(
  name: 'service' | 'stubborn',
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; output: () => string }> {
  const port = await pickFreePort('127.0.0.1');
  const child = spawn(process.execPath, [fixture(name)], {
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  started.push(child.pid!);
  let output = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    output += chunk;
  });
  await expect
    .poll(
      () =>
        get(port, '/healthz').then(
          (r) => r.status,
          () => 0,
        ),
      { timeout: 10_000 },
    )
    .toBe(200);
  return { child, output: () => output };
}

beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'flotilla-reap-'));
});

afterEach(() => {
  for (const pid of started.splice(0)) if (isRunning(pid)) signalGroup(pid, 'SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

describe('reapLeftovers', () => {
  it('stops a leftover with its process group and leaves a pid that now runs something else alone', async () => {
    const { child, output } = await leftover('service', { FIXTURE_HELPER: '1' });
    const helper = Number(/helper (\d+)/.exec(output())?.[1]);
    expect(isRunning(helper)).toBe(true);
    const exited = once(child, 'exit');
    const records = {
      'api-v1-1': { pid: child.pid!, entry: fixture('service') },
      'reused-v1-1': { pid: process.pid, entry: '/srv/other/src/main.ts' },
    };

    expect(await reapLeftovers(records)).toEqual([
      { instance: 'api-v1-1', pid: child.pid, signal: 'SIGTERM' },
    ]);
    expect(await exited).toEqual([0, null]);
    await expect.poll(() => isRunning(helper), { timeout: 2_000 }).toBe(false);
    expect(isRunning(process.pid)).toBe(true);
  });

  it('uses SIGKILL after 2 s on a leftover that ignores SIGTERM', async () => {
    const { child } = await leftover('stubborn');
    const exited = once(child, 'exit');
    const begun = Date.now();
    expect(await reapLeftovers({ 'stubborn-v1-1': { pid: child.pid!, entry: fixture('stubborn') } })).toEqual(
      [{ instance: 'stubborn-v1-1', pid: child.pid, signal: 'SIGKILL' }],
    );
    expect(Date.now() - begun).toBeGreaterThanOrEqual(2_000);
    expect(await exited).toEqual([null, 'SIGKILL']);
  });

  it('does nothing without records', async () => {
    expect(await reapLeftovers({})).toEqual([]);
  });
});

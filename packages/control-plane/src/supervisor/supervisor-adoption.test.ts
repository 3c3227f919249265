import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstanceStatus, TokenHolder, Workload } from '../types.ts';
import { get, type Harness, harness, testWorkload } from './fixtures/harness.ts';
import type { PidRecords } from './pid-file.ts';
import { isRunning, signalGroup } from './process-group.ts';

let stateDir: string;
let h: Harness | undefined;
const orphans: number[] = [];

beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'flotilla-adopt-'));
});

afterEach(async () => {
  await h?.cleanup();
  h = undefined;
  for (const pid of orphans.splice(0)) if (isRunning(pid)) signalGroup(pid, 'SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

/** Runs `workloads` under a stand-in control plane, kills it with SIGKILL, and returns what it left serving. */
async function killedControlPlane(workloads: Workload[]): Promise<InstanceStatus[]> {
  const controlPlane = spawn(
    process.execPath,
    [join(import.meta.dirname, 'fixtures', 'control-plane.ts'), JSON.stringify({ stateDir, workloads })],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  controlPlane.stdout!.setEncoding('utf8');
  const [printed] = (await once(controlPlane.stdout!, 'data')) as [string];
  const left = JSON.parse(printed) as InstanceStatus[];
  for (const instance of left) orphans.push(instance.pid!);
  expect(left.map((i) => i.state)).toEqual(left.map(() => 'ready'));
  controlPlane.kill('SIGKILL');
  await once(controlPlane, 'exit');
  for (const instance of left) expect((await get(instance.port, '/healthz')).status).toBe(200);
  return left;
}

/** Instance tokens that remember which digests were adopted for whom. */
function recordingTokens() {
  const adopted = new Map<string, TokenHolder>();
  return {
    adopted,
    tokens: {
      issue: () => 'token',
      adopt: (digest: string, holder: TokenHolder) => adopted.set(digest, holder),
      revokeDigest: (digest: string) => adopted.delete(digest),
    },
  };
}

const pidFile = (): PidRecords => JSON.parse(readFileSync(join(stateDir, 'pids.json'), 'utf8'));

describe('a supervisor starting after a killed control plane', () => {
  it('adopts the instances still serving: same pids, ports and ids, ready, their tokens known by digest', async () => {
    const workloads = [testWorkload('api', 'service', { replicas: 2 })];
    const left = await killedControlPlane(workloads);
    const recorded = pidFile();
    const { adopted, tokens } = recordingTokens();
    h = harness(workloads, { stateDir, tokens });

    const report = await h.supervisor.adopt();

    expect(report).toEqual({ adopted: ['api-v1-1', 'api-v1-2'], replaced: [] });
    expect(h.supervisor.instances().map((i) => [i.id, i.pid, i.port, i.state])).toEqual(
      left.map((i) => [i.id, i.pid, i.port, 'ready']),
    );
    expect([...adopted].sort()).toEqual(
      [
        [recorded['api-v1-1']!.tokenDigest, { id: 'api-v1-1', service: 'api', version: 'v1' }],
        [recorded['api-v1-2']!.tokenDigest, { id: 'api-v1-2', service: 'api', version: 'v1' }],
      ].sort(),
    );
    await h.supervisor.start();
    expect(h.supervisor.instances().map((i) => i.pid)).toEqual(left.map((i) => i.pid));
    expect(pidFile()).toEqual(recorded);
  });

  it('restarts an adopted instance that is killed, as a child of its own, under the same id', async () => {
    const workloads = [testWorkload('api', 'service')];
    const [orphan] = await killedControlPlane(workloads);
    h = harness(workloads, { stateDir });
    await h.supervisor.start();
    signalGroup(orphan!.pid!, 'SIGKILL');
    await expect
      .poll(() => h!.current('api-v1-1'), { timeout: 10_000 })
      .toMatchObject({ state: 'ready', restarts: 1, lastExit: { reason: 'the adopted process ended' } });
    expect(h.current('api-v1-1').pid).not.toBe(orphan!.pid);
  });

  it('replaces an instance started with another environment than the spec gives now', async () => {
    const [orphan] = await killedControlPlane([testWorkload('api', 'service')]);
    h = harness([testWorkload('api', 'service', { env: { GREETING: 'changed' } })], { stateDir });
    const report = await h.supervisor.adopt();
    expect(report.replaced).toEqual([
      {
        instance: 'api-v1-1',
        reason: 'it was started with another command or environment than the spec gives now',
      },
    ]);
    expect(isRunning(orphan!.pid!)).toBe(false);
    await h.supervisor.start();
    expect(h.supervisor.instances().map((i) => [i.id, i.state])).toEqual([['api-v1-1', 'ready']]);
  });

  it('replaces an instance that no longer answers its liveness probe', async () => {
    const [orphan] = await killedControlPlane([testWorkload('api', 'service')]);
    process.kill(orphan!.pid!, 'SIGSTOP');
    h = harness([testWorkload('api', 'service')], { stateDir });
    const report = await h.supervisor.adopt();
    expect(report.replaced.map((r) => r.instance)).toEqual(['api-v1-1']);
    expect(report.replaced[0]!.reason).toMatch(/does not answer its liveness probe/);
    await expect.poll(() => isRunning(orphan!.pid!), { timeout: 5_000 }).toBe(false);
  });

  it('stops adopted instances with their process groups on stop(), as its own children', async () => {
    const workloads = [testWorkload('api', 'service', { replicas: 2 })];
    const left = await killedControlPlane(workloads);
    h = harness(workloads, { stateDir });
    await h.supervisor.start();
    await h.supervisor.stop();
    expect(left.map((i) => i.pid!).filter(isRunning)).toEqual([]);
    expect(pidFile()).toEqual({});
  });

  it('kills every process group at once on forceKill(), adopted and its own', async () => {
    const [orphan] = await killedControlPlane([testWorkload('api', 'service')]);
    h = harness([testWorkload('api', 'service', { replicas: 2 })], { stateDir });
    await h.supervisor.start();
    const pids = h.supervisor.instances().map((i) => i.pid!);
    expect(pids).toContain(orphan!.pid);
    expect(pids).toHaveLength(2);
    h.supervisor.forceKill();
    await expect.poll(() => pids.filter(isRunning), { timeout: 2_000 }).toEqual([]);
  });
});

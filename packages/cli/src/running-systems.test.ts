import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { forgetRunning, listRunning, recordRunning, registryDir } from './running-systems.ts';
import { runFlotilla } from './testing/run-flotilla.ts';

const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function temp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-running-'));
  dirs.push(dir);
  return dir;
}

/** A state dir as a control plane with `pid` leaves it once ready. */
function stateDirOf(pid: number, name: string): { specFile: string; stateDir: string } {
  const dir = temp();
  const stateDir = join(dir, '.flotilla');
  mkdirSync(stateDir);
  const specFile = join(dir, 'flotilla.yaml');
  const state = {
    pid,
    adminUrl: `http://127.0.0.1:7070/${name}`,
    gatewayUrl: 'http://127.0.0.1:8080',
    specFile,
    startedAt: new Date(Date.now() - 90_000).toISOString(),
  };
  writeFileSync(join(stateDir, 'state.json'), JSON.stringify(state));
  return { specFile, stateDir };
}

/** A pid that no process has any more. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((done) => child.once('exit', done));
  return child.pid!;
}

describe('the registry of running systems', () => {
  it('lives under XDG_STATE_HOME when it is set, and in ~/.local/state otherwise', () => {
    expect(registryDir({ XDG_STATE_HOME: '/x/state' })).toBe('/x/state/flotilla/running');
    expect(registryDir({})).toMatch(/\/\.local\/state\/flotilla\/running$/);
  });

  it('lists a recorded system with its spec, state dir and URLs while its control plane runs', () => {
    const registry = temp();
    const { specFile, stateDir } = stateDirOf(process.pid, 'a');
    recordRunning({ name: 'shop', stateDir, pid: process.pid }, registry);
    expect(listRunning(registry)).toEqual([
      expect.objectContaining({
        name: 'shop',
        specFile,
        stateDir,
        pid: process.pid,
        adminUrl: 'http://127.0.0.1:7070/a',
        gatewayUrl: 'http://127.0.0.1:8080',
      }),
    ]);
  });

  it('prunes the entry of a control plane that was killed before it could remove it', async () => {
    const registry = temp();
    const pid = await deadPid();
    const { stateDir } = stateDirOf(pid, 'killed');
    recordRunning({ name: 'killed', stateDir, pid }, registry);
    expect(listRunning(registry)).toEqual([]);
    expect(readdirSync(registry)).toEqual([]);
  });

  it('prunes an entry whose state dir now belongs to another run, or is gone', () => {
    const registry = temp();
    const replaced = stateDirOf(process.pid, 'replaced');
    recordRunning({ name: 'replaced', stateDir: replaced.stateDir, pid: process.ppid }, registry);
    const removed = stateDirOf(process.pid, 'removed');
    recordRunning({ name: 'removed', stateDir: removed.stateDir, pid: process.pid }, registry);
    rmSync(removed.stateDir, { recursive: true });
    expect(listRunning(registry)).toEqual([]);
  });

  it("forgets a stopped system's entry, but not one a newer run of the same state dir wrote", () => {
    const registry = temp();
    const { stateDir } = stateDirOf(process.pid, 'a');
    recordRunning({ name: 'shop', stateDir, pid: process.pid }, registry);
    forgetRunning(stateDir, process.ppid, registry);
    expect(listRunning(registry)).toHaveLength(1);
    forgetRunning(stateDir, process.pid, registry);
    expect(listRunning(registry)).toEqual([]);
  });
});

describe('flotilla status where there is no spec', () => {
  it('lists the systems running from this user, each with its spec path, and exits 0', async () => {
    const state = temp();
    const shop = stateDirOf(process.pid, 'shop');
    recordRunning(
      { name: 'shop', stateDir: shop.stateDir, pid: process.pid },
      join(state, 'flotilla/running'),
    );
    const result = await runFlotilla(['status'], { cwd: temp(), env: { XDG_STATE_HOME: state } });
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('no flotilla.yaml in this directory; 1 system running from this user:');
    expect(lines[1]).toMatch(/^ {2}SYSTEM +SPEC +STATE DIR +ADMIN +GATEWAY +PID +UP$/);
    expect(lines[2]).toMatch(
      new RegExp(
        `^  shop +${shop.specFile} +${shop.stateDir} +http://127.0.0.1:7070/shop +http://127.0.0.1:8080 +${process.pid} +1m3\\ds$`,
      ),
    );
    expect(lines[3]).toBe('see one with: flotilla status -f <spec>');
  });

  it('lists them as JSON with --json', async () => {
    const state = temp();
    const shop = stateDirOf(process.pid, 'shop');
    recordRunning(
      { name: 'shop', stateDir: shop.stateDir, pid: process.pid },
      join(state, 'flotilla/running'),
    );
    const result = await runFlotilla(['status', '--json'], { cwd: temp(), env: { XDG_STATE_HOME: state } });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      systems: [expect.objectContaining({ name: 'shop', specFile: shop.specFile, stateDir: shop.stateDir })],
    });
  });

  it('says that nothing runs, and how to start something, and exits 1', async () => {
    const state = temp();
    const result = await runFlotilla(['status'], { cwd: temp(), env: { XDG_STATE_HOME: state } });
    expect(result.code).toBe(1);
    expect(result.stdout.trim()).toBe(
      'no flotilla.yaml in this directory, and no system is running from this user; start one with: flotilla up -f <spec>',
    );
    expect(existsSync(join(state, 'flotilla/running'))).toBe(false);
  });
});

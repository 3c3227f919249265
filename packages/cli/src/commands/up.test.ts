import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runFlotilla, startFlotilla } from '../testing/run-flotilla.ts';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-up-'));
  mkdirSync(join(dir, 'api', 'src'), { recursive: true });
  writeFileSync(join(dir, 'api', 'src', 'main.ts'), '');
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('flotilla up', () => {
  it('starts nothing when the spec is invalid: problems listed, exit 1, no state dir', async () => {
    writeFileSync(
      join(dir, 'flotilla.yaml'),
      'name: demo\nservices:\n  api:\n    path: api\n    replicas: -2\n',
    );
    for (const detach of [[], ['--detach']]) {
      const result = await runFlotilla(['up', ...detach], { cwd: dir });
      expect(result).toEqual({
        code: 1,
        stdout: '',
        stderr: 'flotilla.yaml: 1 problem\nservices.api.replicas: expected a number >= 0\n',
      });
      expect(existsSync(join(dir, '.flotilla'))).toBe(false);
    }
  });

  it('refuses to start a second time while the recorded control plane lives', async () => {
    writeFileSync(join(dir, 'flotilla.yaml'), 'name: demo\nservices:\n  api:\n    path: api\n');
    mkdirSync(join(dir, '.flotilla'));
    const adminUrl = 'http://127.0.0.1:7999';
    writeFileSync(join(dir, '.flotilla', 'state.json'), JSON.stringify({ pid: process.pid, adminUrl }));
    const result = await runFlotilla(['up', '--detach'], { cwd: dir });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: already running at ${adminUrl} (pid ${process.pid}); stop it first with: flotilla down\n`,
    });
  });
});

/** Whether `pid` runs (a zombie waiting for its parent has finished). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** A service that keeps the instance contract with nothing but node:http, and logs one pino line. */
const SERVICE = `
import { createServer } from 'node:http';
const server = createServer((req, res) => res.end(req.url === '/readyz' || req.url === '/healthz' ? 'ok' : 'hello'));
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1', () => {
  console.log(JSON.stringify({ level: 30, time: Date.now(), msg: 'listening', port: server.address().port }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

const SPEC = `
name: demo
gateway:
  routes:
    - match: { pathPrefix: /api }
      service: api
services:
  api:
    path: api
`;

describe('flotilla up with the control plane', () => {
  beforeEach(() => {
    writeFileSync(join(dir, 'api', 'src', 'main.ts'), SERVICE);
    writeFileSync(join(dir, 'flotilla.yaml'), SPEC);
  });

  it('runs detached until down: ready summary, status, logs, scale, then stopped', {
    timeout: 90_000,
  }, async () => {
    const ports = ['--gateway-port', '0', '--admin-port', '0'];
    const upResult = await runFlotilla(['up', '--detach', ...ports], { cwd: dir, timeoutMs: 60_000 });
    try {
      expect(upResult.stderr).toBe('');
      expect(upResult.code).toBe(0);
      expect(upResult.stdout).toMatch(
        /^starting "demo" from flotilla\.yaml: 1 service, 1 instance, 1 route\n/,
      );
      expect(upResult.stdout).toMatch(
        /\nready in \d+\.\d s\n {2}gateway {2}http:\/\/127\.0\.0\.1:\d+\n {2}admin {4}http:\/\/127\.0\.0\.1:\d+\n/,
      );
      expect(upResult.stdout).toMatch(
        /running in the background \(pid \d+\); stop it with: flotilla down\n$/,
      );

      const status = await runFlotilla(['status', '--json'], { cwd: dir });
      const api = JSON.parse(status.stdout).services.find((s: { name: string }) => s.name === 'api');
      expect(api.instances.map((i: { state: string }) => i.state)).toEqual(['ready']);

      const logs = await runFlotilla(['logs', 'api'], { cwd: dir });
      expect(logs.stdout).toMatch(/^\d\d:\d\d:\d\d api-\S+ INFO {2}listening port=\d+$/m);

      const scaled = await runFlotilla(['scale', 'api', '2'], { cwd: dir });
      expect(scaled).toMatchObject({ code: 0, stdout: 'api: 2 replicas (was 1)\n' });
    } finally {
      const down = await runFlotilla(['down'], { cwd: dir, timeoutMs: 60_000 });
      expect(down.code).toBe(0);
      expect(down.stdout).toMatch(/stopped in \d+\.\d s\n$/);
    }
    expect(existsSync(join(dir, '.flotilla', 'state.json'))).toBe(false);
    expect((await runFlotilla(['status'], { cwd: dir })).code).toBe(1);
  });

  it('stops gracefully on Ctrl-C in the foreground', { timeout: 90_000 }, async () => {
    const cli = startFlotilla(['up', '--gateway-port', '0', '--admin-port', '0'], { cwd: dir });
    try {
      await cli.waitFor('press Ctrl-C to stop');
      const exited = new Promise((resolve) => cli.child.once('exit', resolve));
      cli.child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(cli.stdout()).toMatch(/\nstopping\.\.\.\n(.*\n)*stopped\n$/);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('exits at once on a second Ctrl-C while a graceful stop waits, killing every instance it ran', {
    timeout: 90_000,
  }, async () => {
    writeFileSync(
      join(dir, 'api', 'src', 'main.ts'),
      `${SERVICE}\nprocess.removeAllListeners('SIGTERM');\nprocess.on('SIGTERM', () => {});\n`,
    );
    writeFileSync(join(dir, 'flotilla.yaml'), `${SPEC}    terminationGracePeriodMs: 30000\n`);
    const cli = startFlotilla(['up', '--gateway-port', '0', '--admin-port', '0'], { cwd: dir });
    let pids: number[] = [];
    try {
      await cli.waitFor('press Ctrl-C to stop');
      pids = Object.values(
        JSON.parse(readFileSync(join(dir, '.flotilla', 'pids.json'), 'utf8')) as Record<
          string,
          { pid: number }
        >,
      ).map((record) => record.pid);
      expect(pids).toHaveLength(2);
      cli.child.kill('SIGINT');
      await cli.waitFor('stopping...');
      const exited = new Promise((resolve) => cli.child.once('exit', resolve));
      cli.child.kill('SIGINT');
      expect(await exited).toBe(1);
      expect(cli.stdout()).toMatch(/\nstopping\.\.\.\nforced stop\n$/);
      // Instances lead their own process groups, out of reach of the terminal's Ctrl-C: the forced
      // stop itself kills each group before exiting.
      await expect.poll(() => pids.filter(running), { timeout: 5_000 }).toEqual([]);
    } finally {
      cli.child.kill('SIGKILL');
      for (const pid of pids.filter(running)) process.kill(pid, 'SIGKILL');
    }
  });
});

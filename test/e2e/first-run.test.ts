import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { helloSpec, processesOf, repoRoot, stopAsCtrlC, tempDir, waitFor } from './support.ts';

const CLI = join(repoRoot, 'packages/cli/src/main.ts');
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A listener of the test's own on 127.0.0.1, as another program holding the port would be. */
async function holdPort(
  options: { reusePort?: boolean } = {},
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((socket) => socket.end('not flotilla\n'));
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0, ...options }, resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise((done) => server.close(() => done())),
  };
}

/** Runs `flotilla up` on a copy of the hello example to its end, with stdout and stderr pipes. */
function upUntilExit(
  system: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string; dir: string }> {
  const dir = tempDir();
  dirs.push(dir);
  const file = join(dir, 'flotilla.yaml');
  writeFileSync(file, helloSpec(system));
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, 'up', '-f', file, ...args], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    // Bounded: a start that went on past a port it could not have would otherwise run until killed.
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, dir });
    });
  });
}

// Concurrent: each of these is a short `up` that waits mostly on its own start-up.
describe.concurrent('flotilla up on a port another program holds', () => {
  it.each([
    ['without SO_REUSEPORT', false],
    ['with SO_REUSEPORT, as a gateway of another system does', true],
  ])(
    'fails with one line naming the gateway port and --gateway-port when a listener holds it %s, leaving no process behind',
    async (_, reusePort) => {
      const held = await holdPort({ reusePort });
      try {
        const system = `firstrun-gw-${process.pid}-${reusePort ? 'r' : 'x'}`;
        const result = await upUntilExit(system, ['--gateway-port', String(held.port), '--admin-port', '0']);
        expect(result.code, result.stdout + result.stderr).toBe(1);
        const errors = result.stderr.split('\n').filter((line) => line.startsWith('error:'));
        expect(errors).toEqual([
          `error: port ${held.port} on 127.0.0.1 is in use by another program, so the gateway cannot listen there; choose another with --gateway-port <N> (0 picks a free one) or gateway.listen.port in the spec`,
        ]);
        expect(result.stdout).not.toContain('ready in');
        expect(processesOf(system, result.dir)).toEqual([]);
      } finally {
        await held.close();
      }
    },
    60_000,
  );

  it('fails with one line naming the admin port and --admin-port, leaving no process behind', async () => {
    const held = await holdPort();
    try {
      const system = `firstrun-admin-${process.pid}`;
      const result = await upUntilExit(system, ['--gateway-port', '0', '--admin-port', String(held.port)]);
      expect(result.code, result.stdout + result.stderr).toBe(1);
      const errors = result.stderr.split('\n').filter((line) => line.startsWith('error:'));
      expect(errors).toEqual([
        `error: port ${held.port} on 127.0.0.1 is in use by another program, so the admin API cannot listen there; choose another with --admin-port <N> (0 picks a free one) or controlPlane.port in the spec`,
      ]);
      expect(processesOf(system, result.dir)).toEqual([]);
    } finally {
      await held.close();
    }
  }, 60_000);

  it('fails with the same one line with --detach, naming the log, leaving no process behind', async () => {
    const held = await holdPort();
    try {
      const system = `firstrun-detach-${process.pid}`;
      const result = await upUntilExit(system, [
        '--detach',
        '--gateway-port',
        String(held.port),
        '--admin-port',
        '0',
      ]);
      expect(result.code, result.stdout + result.stderr).toBe(1);
      expect(result.stderr.trimEnd().split('\n')).toEqual([
        `error: port ${held.port} on 127.0.0.1 is in use by another program, so the gateway cannot listen there; choose another with --gateway-port <N> (0 picks a free one) or gateway.listen.port in the spec; full log: .flotilla/logs/control-plane.log`,
      ]);
      expect(processesOf(system, result.dir)).toEqual([]);
    } finally {
      await held.close();
    }
  }, 60_000);
});

// One system for both: `up` through a pipe, and `status` from another directory while it runs.
describe('a system started with its output through a pipe, as `npm start | tee` does', () => {
  const system = `firstrun-pipe-${process.pid}`;
  const dir = tempDir();
  dirs.push(dir);
  // The user's registry of running systems, here and not in the real home.
  const stateHome = join(dir, 'xdg-state');
  const elsewhere = join(dir, 'elsewhere');
  const file = join(dir, 'flotilla.yaml');
  let up: ChildProcess | undefined;
  let stdout = '';
  let stderr = '';

  const statusFromElsewhere = () =>
    new Promise<{ code: number | null; stdout: string }>((done) => {
      const child = spawn(process.execPath, [CLI, 'status'], {
        cwd: elsewhere,
        env: { ...process.env, XDG_STATE_HOME: stateHome },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d;
      });
      child.on('close', (code) => done({ code, stdout: out }));
    });

  afterAll(async () => {
    if (up) await stopAsCtrlC([up], system, dir);
  });

  it('prints only human lines, control-plane logs included, with the summary a terminal gets; flotilla status elsewhere lists it with its spec until it stops', async () => {
    writeFileSync(file, helloSpec(system));
    mkdirSync(elsewhere);
    up = spawn(process.execPath, [CLI, 'up', '-f', file, '--gateway-port', '0', '--admin-port', '0'], {
      cwd: dir,
      // At info, the control plane has lines to print: they must be prettified, not JSON.
      env: { ...process.env, XDG_STATE_HOME: stateHome, FLOTILLA_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    up.stdout!.on('data', (d: Buffer) => {
      stdout += d;
    });
    up.stderr!.on('data', (d: Buffer) => {
      stderr += d;
    });
    await waitFor(
      'press Ctrl-C to stop',
      () => stdout.includes('press Ctrl-C to stop') || up!.exitCode !== null,
      90_000,
    );
    expect(up.exitCode, stdout + stderr).toBeNull();

    const listed = await statusFromElsewhere();
    expect(listed.code).toBe(0);
    const row = listed.stdout.split('\n').find((line) => line.startsWith(`  ${system} `));
    expect(row, listed.stdout).toBeDefined();
    const state = JSON.parse(readFileSync(join(dir, '.flotilla/state.json'), 'utf8')) as {
      adminUrl: string;
      gatewayUrl: string;
    };
    for (const part of [file, join(dir, '.flotilla'), state.adminUrl, state.gatewayUrl])
      expect(row).toContain(` ${part} `);

    const exited = new Promise((done) => up!.once('close', done));
    up.kill('SIGINT');
    await exited;
    expect(up.exitCode).toBe(0);
    const afterStop = await statusFromElsewhere();
    expect(afterStop.code).toBe(1);
    expect(afterStop.stdout).toContain('no system is running from this user');

    const lines = `${stdout}${stderr}`.split('\n').filter((line) => line.trim() !== '');
    const json = lines.filter((line) => {
      try {
        return typeof JSON.parse(line) === 'object';
      } catch {
        return false;
      }
    });
    expect(json).toEqual([]);
    // The control plane's own lines, prettified as `flotilla logs` shows them, without colour.
    expect(stderr).toMatch(/^\d\d:\d\d:\d\d control-plane INFO {2}\S/m);
    expect(stderr).not.toContain('\u001b[');
    const summary = stdout.split('\n');
    const ready = summary.findIndex((line) => /^ready in \d+(\.\d)? s$/.test(line));
    expect(summary.slice(ready, ready + 4)).toEqual([
      expect.stringMatching(/^ready in /),
      `  gateway  ${state.gatewayUrl}`,
      `  admin    ${state.adminUrl}`,
      'press Ctrl-C to stop',
    ]);
    expect(summary).toContain('stopped');
    expect(processesOf(system, dir)).toEqual([]);
  }, 180_000);
});

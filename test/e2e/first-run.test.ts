import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
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

/** A `flotilla up` of the hello example, on a terminal (a pty from `script`) or through pipes. */
interface Up {
  system: string;
  dir: string;
  file: string;
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Ctrl-C: typed on the terminal, or SIGINT to the piped process. */
  interrupt(): void;
}

function startUp(name: string, options: { tty: boolean; stateHome: string }): Up {
  const system = `firstrun-${name}-${process.pid}`;
  const dir = tempDir();
  dirs.push(dir);
  const file = join(dir, 'flotilla.yaml');
  writeFileSync(file, helloSpec(system));
  const args = [CLI, 'up', '-f', file, '--gateway-port', '0', '--admin-port', '0'];
  // At info, the control plane has lines to print: they must be prettified, not JSON.
  const env = { ...process.env, XDG_STATE_HOME: options.stateHome, FLOTILLA_LOG_LEVEL: 'info' };
  const child = options.tty
    ? spawn('script', ['-qefc', `exec ${[process.execPath, ...args].join(' ')}`, '/dev/null'], {
        cwd: dir,
        env,
      })
    : spawn(process.execPath, args, { cwd: dir, env });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d;
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d;
  });
  return {
    system,
    dir,
    file,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    interrupt: () => (options.tty ? child.stdin!.write('\x03') : child.kill('SIGINT')),
  };
}

/** Lines as a person reads them, with what differs between two runs (numbers, names, dirs) masked. */
function humanLines(text: string, up: Up): string[] {
  return text
    .replaceAll(up.dir, '<dir>')
    .replaceAll(up.system, '<system>')
    .replaceAll(up.system.replaceAll('-', '_'), '<system>')
    .split('\n')
    .map((line) =>
      stripVTControlCharacters(line)
        .replace(/\r/g, '')
        .replace(/^\^C/, '')
        .replace(/\d+(\.\d+)?/g, 'N')
        .trimEnd(),
    )
    .filter((line) => line !== '');
}

/**
 * The lines whose content depends on how fast instances started on a busy machine (which were not
 * ready in time, and in what state) left out, so that two runs compare by what they print.
 */
function withoutTiming(lines: readonly string[]): string[] {
  return lines
    .filter((line) => !/^ {4}\S/.test(line) && !/instances? failed to start/.test(line))
    .map((line) => line.replace(/ ready \(N s\).*$/, ' ready (N s)'));
}

const CONTROL_PLANE_LOG = /^N:N:N control-plane (INFO|WARN|ERROR) /;

// Two systems at once: `up` on a terminal and `up` through a pipe, and `status` from another
// directory while they run.
describe('a system started with its output through a pipe, as `npm start | tee` does', () => {
  const stateHome = join(tempDir(), 'xdg-state');
  const elsewhere = tempDir();
  dirs.push(elsewhere);
  const ups: Up[] = [];

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
    for (const up of ups) await stopAsCtrlC([up.child], up.system, up.dir);
  });

  it('prints the same human lines as on a terminal, control-plane logs prettified and never JSON; flotilla status elsewhere lists both systems with their specs until they stop', async () => {
    const piped = startUp('pipe', { tty: false, stateHome });
    const tty = startUp('tty', { tty: true, stateHome });
    ups.push(piped, tty);
    for (const up of ups) {
      await waitFor(
        `${up.system} to be ready`,
        () => up.stdout().includes('press Ctrl-C to stop') || up.child.exitCode !== null,
        150_000,
      );
      expect(up.child.exitCode, up.stdout() + up.stderr()).toBeNull();
    }

    const listed = await statusFromElsewhere();
    expect(listed.code, listed.stdout).toBe(0);
    expect(listed.stdout).toContain('2 systems running from this user:');
    for (const up of ups) {
      const state = JSON.parse(readFileSync(join(up.dir, '.flotilla/state.json'), 'utf8')) as {
        adminUrl: string;
        gatewayUrl: string;
      };
      const row = listed.stdout.split('\n').find((line) => line.startsWith(`  ${up.system} `));
      for (const part of [up.file, join(up.dir, '.flotilla'), state.adminUrl, state.gatewayUrl])
        expect(row, listed.stdout).toContain(` ${part} `);
    }

    for (const up of ups) {
      const closed = new Promise((done) => up.child.once('close', done));
      up.interrupt();
      await closed;
      expect(up.child.exitCode, up.stdout() + up.stderr()).toBe(0);
      expect(processesOf(up.system, up.dir)).toEqual([]);
    }
    const afterStop = await statusFromElsewhere();
    expect(afterStop.code).toBe(1);
    expect(afterStop.stdout).toContain('no system is running from this user');

    const pipedLines = [...humanLines(piped.stdout(), piped), ...humanLines(piped.stderr(), piped)];
    const json = pipedLines.filter((line) => line.startsWith('{'));
    expect(json).toEqual([]);
    expect(piped.stderr()).not.toContain('\u001b[');
    const logs = humanLines(piped.stderr(), piped);
    expect(logs.length).toBeGreaterThan(0);
    for (const line of logs) expect(line).toMatch(CONTROL_PLANE_LOG);
    // The terminal shows stdout and stderr on one screen; its lines other than the logs are stdout's.
    const ttyLines = humanLines(tty.stdout(), tty).filter((line) => !CONTROL_PLANE_LOG.test(line));
    expect(withoutTiming(humanLines(piped.stdout(), piped))).toEqual(withoutTiming(ttyLines));
    expect(ttyLines).toEqual(
      expect.arrayContaining([
        'ready in N s',
        '  gateway  http://N.N:N',
        '  admin    http://N.N:N',
        'press Ctrl-C to stop',
        'stopped',
      ]),
    );
  }, 240_000);
});

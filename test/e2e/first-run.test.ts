import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { helloSpec, processesOf, repoRoot, tempDir } from './support.ts';

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

describe('flotilla up on a port another program holds', () => {
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
  });
});

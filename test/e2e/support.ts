import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InstanceStatus, SystemStatus } from '@flotilla/control-plane/types';

export const repoRoot = resolve(import.meta.dirname, '../..');
const cli = join(repoRoot, 'packages/cli/src/main.ts');

/** The example system with fast probes, on free ports, with its state in a temp directory. */
export function helloSpec(system: string): string {
  const services = join(repoRoot, 'examples/hello');
  const probes = `
    probes:
      readiness: { periodMs: 200, timeoutMs: 150 }
      liveness: { periodMs: 500, timeoutMs: 400 }
    terminationGracePeriodMs: 3000`;
  return `
name: ${system}
gateway:
  routes:
    - match: { pathPrefix: /greet, methods: [GET] }
      service: greeter
    - match: { pathPrefix: /time, methods: [GET] }
      service: clock
services:
  greeter:
    path: ${join(services, 'greeter')}
    replicas: 2
    database: true${probes}
  clock:
    path: ${join(services, 'clock')}
    replicas: 2${probes}
`;
}

/**
 * A temp directory the embedded PostgreSQL can use: as root it runs as the `postgres` user, who
 * must be able to reach its data directory, and mkdtemp makes directories only the owner can enter.
 */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-e2e-'));
  chmodSync(dir, 0o755);
  return dir;
}

/** A system started with `flotilla up` as a child process, the way a user starts it. */
export interface RunningSystem {
  dir: string;
  cli: ChildProcess;
  output: () => string;
  adminUrl: string;
  gatewayUrl: string;
  token: string;
  status(): Promise<SystemStatus>;
  instances(service: string): Promise<InstanceStatus[]>;
  /** Runs another `flotilla` command against this system. */
  cliRun(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Runs the CLI to completion. */
export function runCli(
  args: string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** Writes the spec to `dir` (a new temp dir by default) and runs `flotilla up` on free ports. */
export async function startSystem(spec: string, dir = tempDir()): Promise<RunningSystem> {
  const file = join(dir, 'flotilla.yaml');
  writeFileSync(file, spec);
  const stateFile = join(dir, '.flotilla/state.json');
  let out = '';
  const child = spawn(process.execPath, [cli, 'up', '-f', file, '--gateway-port', '0', '--admin-port', '0'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    // The per-user list of running systems goes to the test's directory, not the real home.
    env: { ...process.env, FLOTILLA_LOG_LEVEL: 'warn', XDG_STATE_HOME: join(dir, '.xdg-state') },
  });
  child.stdout!.on('data', (d: Buffer) => {
    out += d;
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d;
  });
  const deadline = Date.now() + 60_000;
  while (!existsSync(stateFile) || !/^ready in \d/m.test(out)) {
    if (child.exitCode !== null) throw new Error(`flotilla up exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      // Stopped with whatever it started: the caller never gets the system to stop, and a SIGKILL of
      // `flotilla up` alone left its instances and PostgreSQL running under init, loading the machine.
      await stopAsCtrlC([child], /^name:\s*(\S+)/m.exec(spec)?.[1] ?? '', dir);
      throw new Error(`flotilla up was not ready within 60 s:\n${out}`);
    }
    await sleep(50);
  }
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { adminUrl: string; gatewayUrl: string };
  const token = readFileSync(join(dir, '.flotilla/admin-token'), 'utf8').trim();
  const status = async (): Promise<SystemStatus> => {
    const res = await fetch(`${state.adminUrl}/v1/status`, { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(`status answered ${res.status}`);
    return (await res.json()) as SystemStatus;
  };
  return {
    dir,
    cli: child,
    output: () => out,
    adminUrl: state.adminUrl,
    gatewayUrl: state.gatewayUrl,
    token,
    status,
    cliRun: (args) => runCli([...args, '-f', file], dir),
    async instances(service) {
      const s = await status();
      return s.services.find((x) => x.name === service)?.instances ?? [];
    },
  };
}

/** Polls `check` every 50 ms until it returns true, failing after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Results of a steady load: every answer's status, and the failures with their reason. */
export interface LoadResult {
  ok: number;
  failures: string[];
  bodies: unknown[];
}

/**
 * Sends requests with `concurrency` clients, each sending the next request when the previous one
 * answered, until `stop` resolves. Bounded: at most `maxRequests` in all.
 */
export function steadyLoad(url: string, concurrency: number, maxRequests = 20_000) {
  const result: LoadResult = { ok: 0, failures: [], bodies: [] };
  let stopped = false;
  let sent = 0;
  const client = async () => {
    while (!stopped && sent < maxRequests) {
      sent++;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
        const body = await res.text();
        if (res.status === 200) {
          result.ok++;
          result.bodies.push(JSON.parse(body));
        } else result.failures.push(`${res.status} ${body}`);
      } catch (error) {
        result.failures.push(String(error));
      }
    }
  };
  const running = Promise.all(Array.from({ length: concurrency }, client));
  return {
    result,
    async stop(): Promise<LoadResult> {
      stopped = true;
      await running;
      return result;
    },
  };
}

/** Whether a process with this pid is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops `flotilla up` processes as Ctrl-C would (SIGKILL after 20 s), kills whatever of the system
 * is still running, and returns those pids (none, when the platform cleaned up after itself) with
 * the exit code of the last process.
 */
export async function stopAsCtrlC(
  clis: readonly ChildProcess[],
  system: string,
  dir: string,
): Promise<{ left: number[]; exitCode: number | null | undefined }> {
  for (const cli of clis) {
    if (cli.exitCode !== null || cli.signalCode !== null) continue;
    const exited = new Promise((resolve) => cli.once('exit', resolve));
    cli.kill('SIGINT');
    await Promise.race([exited, sleep(20_000)]);
    if (cli.exitCode === null) cli.kill('SIGKILL');
  }
  const left = processesOf(system, dir);
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // it ended meanwhile
    }
  }
  return { left, exitCode: clis.at(-1)?.exitCode };
}

/**
 * Pids of processes that belong to a system: instances carry its unique name in their
 * environment (FLOTILLA_SYSTEM), the embedded PostgreSQL its state directory in its command line.
 */
export function processesOf(system: string, dir: string): number[] {
  const out = new Set<number>();
  for (const entry of readdirSafe('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      if (cmdline.includes(dir) || environ.split('\0').includes(`FLOTILLA_SYSTEM=${system}`))
        out.add(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return [...out];
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../../../test/support/eventually.ts';
import { isProcessAlive } from '../state/index.ts';
import { isRunning } from '../supervisor/process-group.ts';
import { adoptEmbeddedPostgres, type RunningPostgres, startEmbeddedPostgres } from './embedded.ts';
import { postmasterPid, stopLeftoverPostmaster } from './postmaster.ts';

const fixture = join(import.meta.dirname, 'fixtures', 'control-plane.ts');
/** Far longer than a fast shutdown of an idle server takes to turn new connections away. */
const SHUTDOWN_GRACE_MS = 1_000;

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

const selectOne = (url: string) => query(url, 'SELECT 1 AS one');

describe('embedded PostgreSQL under Ctrl-C', () => {
  let dir: string | undefined;
  let controlPlane: ChildProcess | undefined;
  let postmaster: number | undefined;

  afterEach(async () => {
    if (controlPlane?.exitCode === null) controlPlane.kill('SIGKILL');
    if (postmaster !== undefined && isProcessAlive(postmaster)) process.kill(postmaster, 'SIGQUIT');
    controlPlane = undefined;
    postmaster = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("keeps answering after a SIGINT to the control plane's process group, until the control plane stops it", async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-pg-ctrl-c-'));
    // As root the server runs as the postgres user, who must be able to reach the data directory.
    await chmod(dir, 0o755);
    const dataDir = join(dir, 'postgres');
    // Detached, so that it leads a process group of its own, as `flotilla up` does in a terminal.
    controlPlane = spawn(process.execPath, [fixture, dataDir, join(dir, 'superuser-password')], {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: controlPlane.stdout! })[Symbol.asyncIterator]();
    const nextLine = async () => String((await lines.next()).value);
    const started = JSON.parse(await nextLine()) as { serverUrl: string; pid: number };
    postmaster = started.pid;
    expect(await selectOne(started.serverUrl)).toEqual([{ one: 1 }]);

    // What a terminal does on Ctrl-C: SIGINT to every process in the foreground group.
    process.kill(-controlPlane.pid!, 'SIGINT');
    expect(await nextLine()).toBe('interrupted');
    await sleep(SHUTDOWN_GRACE_MS);
    expect(isProcessAlive(started.pid)).toBe(true);
    expect(await selectOne(started.serverUrl)).toEqual([{ one: 1 }]);

    const exited = once(controlPlane, 'exit');
    controlPlane.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
    expect(isProcessAlive(started.pid)).toBe(false);
    expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
  }, 120_000);
});

/** Postmaster and backend pids of a running server, as PostgreSQL itself lists its processes. */
async function serverProcesses(url: string): Promise<number[]> {
  const rows = (await query(url, 'SELECT pid FROM pg_stat_activity')) as { pid: number }[];
  return rows.map((row) => row.pid);
}

describe('embedded PostgreSQL after kill -9 of its postmaster', () => {
  let dir: string | undefined;
  let server: RunningPostgres | undefined;
  let fixtureProcess: ChildProcess | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
    if (fixtureProcess?.exitCode === null) fixtureProcess.kill('SIGKILL');
    fixtureProcess = undefined;
    // A test that failed before adopting it leaves the fixture's server running on the data dir.
    if (dir) await stopLeftoverPostmaster(join(dir, 'postgres'), 30_000);
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  const tempDataDir = async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-pg-restart-'));
    // As root the server runs as the postgres user, who must be able to reach the data directory.
    await chmod(dir, 0o755);
    return { dataDir: join(dir, 'postgres'), passwordFile: join(dir, 'superuser-password') };
  };
  const options = {
    port: 0,
    startTimeoutMs: 30_000,
    stopTimeoutMs: 30_000,
    watchIntervalMs: 100,
    log: pino({ level: 'silent' }),
  };

  it('comes back on the same port with every committed row, its orphaned backends gone, and says how it ended', async () => {
    const paths = await tempDataDir();
    server = await startEmbeddedPostgres({ ...paths, ...options });
    await query(server.serverUrl, 'CREATE TABLE kept (note text)');
    await query(server.serverUrl, "INSERT INTO kept VALUES ('committed before the kill')");
    // A session that stays open: its backend outlives the postmaster for a moment.
    const session = new pg.Client({ connectionString: server.serverUrl });
    session.on('error', () => {});
    await session.connect();
    const before = server.status().pid!;
    const backends = await serverProcesses(server.serverUrl);

    process.kill(before, 'SIGKILL');
    const ended = await eventually(() => {
      const status = server!.status();
      expect(status.state).not.toBe('running');
      return status;
    });
    expect(ended.lastExit).toMatchObject({ signal: 'SIGKILL', reason: 'killed by SIGKILL' });

    await eventually(() => expect(server!.status().state).toBe('running'), 30_000);
    expect(server.status()).toMatchObject({ restarts: 1, nextRestartAt: null });
    expect(server.status().pid).not.toBe(before);
    expect(await postmasterPid(paths.dataDir)).toBe(server.status().pid);
    expect(await query(server.serverUrl, 'SELECT note FROM kept')).toEqual([
      { note: 'committed before the kill' },
    ]);
    for (const pid of backends) expect(isRunning(pid)).toBe(false);
    await session.end().catch(() => {});
  }, 120_000);

  it('restarts a postmaster it adopted by pid, though the dead one stays a zombie named in postmaster.pid', async () => {
    const paths = await tempDataDir();
    // Another process starts the server, as an earlier control plane did; killed, it leaves the
    // server running with no parent but init.
    fixtureProcess = spawn(process.execPath, [fixture, paths.dataDir, paths.passwordFile], {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: fixtureProcess.stdout! })[Symbol.asyncIterator]();
    const started = JSON.parse(String((await lines.next()).value)) as { serverUrl: string; pid: number };
    const exited = once(fixtureProcess, 'exit');
    fixtureProcess.kill('SIGKILL');
    await exited;
    const port = Number(new URL(started.serverUrl).port);
    await query(started.serverUrl, 'CREATE TABLE kept (note text)');
    await query(started.serverUrl, "INSERT INTO kept VALUES ('adopted')");

    server = await adoptEmbeddedPostgres({ ...paths, ...options, port, pid: started.pid });
    expect(server.status()).toMatchObject({ state: 'running', pid: started.pid, restarts: 0 });
    process.kill(started.pid, 'SIGKILL');
    await eventually(() => expect(server!.status().state).not.toBe('running'));
    expect(server.status().lastExit?.reason).toMatch(/^pid \d+ is gone/);
    await eventually(() => expect(server!.status()).toMatchObject({ state: 'running', restarts: 1 }), 30_000);
    expect(await query(server.serverUrl, 'SELECT note FROM kept')).toEqual([{ note: 'adopted' }]);
    expect(new URL(server.serverUrl).port).toBe(String(port));
  }, 120_000);
});

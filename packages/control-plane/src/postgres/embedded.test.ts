import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../state/index.ts';

const fixture = join(import.meta.dirname, 'fixtures', 'control-plane.ts');
/** Far longer than a fast shutdown of an idle server takes to turn new connections away. */
const SHUTDOWN_GRACE_MS = 1_000;

async function selectOne(url: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return (await client.query('SELECT 1 AS one')).rows;
  } finally {
    await client.end();
  }
}

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

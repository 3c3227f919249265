import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../../../../test/support/eventually.ts';
import { isRunning, signalGroup } from '../supervisor/process-group.ts';
import type { RestartPolicy } from '../supervisor/restart-policy.ts';
import { PostmasterSupervisor } from './postmaster-supervisor.ts';
import { type WatchedPostmaster, watchPostmaster } from './watch-postmaster.ts';

const log = pino({ level: 'silent' });
/** Short enough for a test, long enough to see the state between an end and the restart. */
const policy: RestartPolicy = { initialDelayMs: 300, maxDelayMs: 10_000, resetAfterReadyMs: 60_000 };

/**
 * A stand-in server: a long sleep leading its own process group, as the postmaster does. The
 * supervisor's part (watching, backoff, state) does not depend on what the process is.
 */
function startSleeper(): Required<WatchedPostmaster> {
  const child = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { pid: child.pid!, exited };
}

/** A sleep that is no child of this process (its parent shell has exited), as an adopted postmaster is. */
function startOrphan(): number {
  const shell = spawnSync('sh', ['-c', 'setsid sleep 600 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
  return Number(shell.stdout.trim());
}

/**
 * A sleep leading its own group whose parent never collects it: the Node process that spawned it
 * (signals at their defaults, unlike a background job of sh) turns into another sleep, as a
 * postmaster adopted from an earlier control plane has an init that may never collect it.
 */
async function startUncollected(): Promise<{ pid: number; parent: ChildProcess }> {
  const parent = spawn(
    process.execPath,
    [
      '-e',
      `const c = require('node:child_process').spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
       require('node:fs').writeSync(1, c.pid + '\\n');
       process.execve('/bin/sleep', ['sleep', '600']);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(createInterface({ input: parent.stdout! }), 'line')) as [string];
  return { pid: Number(line), parent };
}

describe('PostmasterSupervisor', () => {
  let dir: string;
  let supervisor: PostmasterSupervisor | undefined;
  const started: number[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-pg-supervisor-'));
  });

  afterEach(async () => {
    await supervisor?.stop();
    supervisor = undefined;
    for (const pid of started.splice(0)) signalGroup(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  const supervise = (postmaster: WatchedPostmaster, start: () => Promise<WatchedPostmaster>) =>
    new PostmasterSupervisor({
      postmaster,
      dataDir: dir,
      start,
      policy,
      watchIntervalMs: 50,
      stopTimeoutMs: 5_000,
      clock: Date,
      log,
    });

  const startTracked = async () => {
    const server = startSleeper();
    started.push(server.pid);
    return server;
  };

  it("restarts a killed server after the restart policy's delay, twice as long when it dies again before a minute of running, and says why", async () => {
    const first = await startTracked();
    supervisor = supervise(first, startTracked);
    expect(supervisor.status()).toEqual({
      state: 'running',
      pid: first.pid,
      restarts: 0,
      lastExit: null,
      nextRestartAt: null,
    });

    process.kill(first.pid, 'SIGKILL');
    const waiting = await eventually(() => {
      const status = supervisor!.status();
      expect(status.state).toBe('crashloop');
      return status;
    });
    expect(waiting.pid).toBeNull();
    expect(waiting.lastExit).toMatchObject({ code: null, signal: 'SIGKILL', reason: 'killed by SIGKILL' });
    expect(Date.parse(waiting.nextRestartAt!) - Date.parse(waiting.lastExit!.at)).toBe(policy.initialDelayMs);

    const second = await eventually(() => {
      const status = supervisor!.status();
      expect(status.state).toBe('running');
      return status;
    });
    expect(second.restarts).toBe(1);
    expect(second.pid).not.toBe(first.pid);
    expect(isRunning(second.pid!)).toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(waiting.nextRestartAt!));

    process.kill(second.pid!, 'SIGTERM');
    const again = await eventually(() => {
      const status = supervisor!.status();
      expect(status.lastExit?.reason).toBe('killed by SIGTERM');
      return status;
    });
    expect(Date.parse(again.nextRestartAt!) - Date.parse(again.lastExit!.at)).toBe(2 * policy.initialDelayMs);
    await eventually(() => expect(supervisor!.status()).toMatchObject({ state: 'running', restarts: 2 }));
  });

  it('counts a restart that fails to start as one more failure, waits longer, and tries again', async () => {
    const first = await startTracked();
    let refusals = 1;
    supervisor = supervise(first, async () => {
      if (refusals-- > 0) throw new Error('the port is taken');
      return startTracked();
    });
    process.kill(first.pid, 'SIGKILL');
    const refused = await eventually(() => {
      const status = supervisor!.status();
      expect(status.lastExit?.reason).toBe('could not start: the port is taken');
      expect(status.state).toBe('crashloop');
      return status;
    });
    expect(Date.parse(refused.nextRestartAt!) - Date.parse(refused.lastExit!.at)).toBe(
      2 * policy.initialDelayMs,
    );
    await eventually(() => expect(supervisor!.status()).toMatchObject({ state: 'running', restarts: 2 }));
  });

  it('stops at once while waiting out the backoff, and starts nothing after', async () => {
    const first = await startTracked();
    let starts = 0;
    supervisor = supervise(first, async () => {
      starts++;
      return startTracked();
    });
    process.kill(first.pid, 'SIGKILL');
    await eventually(() => expect(supervisor!.status().state).toBe('crashloop'));
    const stopping = performance.now();
    await supervisor.stop();
    expect(performance.now() - stopping).toBeLessThan(policy.initialDelayMs);
    expect(supervisor.status()).toMatchObject({ state: 'down', pid: null, nextRestartAt: null });
    await new Promise((resolve) => setTimeout(resolve, 2 * policy.initialDelayMs));
    expect(starts).toBe(0);
  });

  it('stops the server it supervises with a fast shutdown (SIGINT)', async () => {
    const first = await startTracked();
    supervisor = supervise(first, startTracked);
    await supervisor.stop();
    expect(await first.exited).toEqual({ code: null, signal: 'SIGINT' });
    expect(supervisor.status().state).toBe('down');
  });

  it('stops an adopted server in one fast shutdown though it stays a zombie its parent never collects, instead of waiting out every signal', async () => {
    const { pid, parent } = await startUncollected();
    started.push(pid);
    try {
      supervisor = supervise({ pid }, startTracked);
      const stopping = performance.now();
      await supervisor.stop();
      // Each signal gets stopTimeoutMs (5 s): a zombie taken for a live server cost 15 s and an error.
      expect(performance.now() - stopping).toBeLessThan(2_500);
      expect(isRunning(pid)).toBe(false);
      expect(supervisor.status()).toMatchObject({ state: 'down', pid: null });
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

describe('watchPostmaster', () => {
  it('notices a server known only by its pid ending, though it stays a zombie its parent never collects', async () => {
    const pid = startOrphan();
    try {
      const watch = watchPostmaster({ pid }, { intervalMs: 50 });
      let ended = false;
      void watch.gone.then(() => {
        ended = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(ended).toBe(false);
      process.kill(pid, 'SIGKILL');
      expect(await watch.gone).toEqual({ pid, code: null, signal: null });
    } finally {
      signalGroup(pid, 'SIGKILL');
    }
  });
});

import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createService, type Service } from './service.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A started service whose `/slow` handler waits for the test to open its gate. */
async function slowService(graceMs: number, logs: Record<string, unknown>[]) {
  let entered!: () => void;
  const started = new Promise<void>((resolve) => {
    entered = resolve;
  });
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const service: Service = createService({
    name: 'slow',
    env: { PORT: '0', FLOTILLA_GRACE_PERIOD_MS: String(graceMs) },
    logDestination: { write: (line: string) => logs.push(JSON.parse(line)) },
  });
  service.get('/slow', async () => {
    entered();
    await gate;
    return { done: true };
  });
  await service.start();
  cleanups.push(() => {
    open();
    return service.stop();
  });
  return { service, started, open };
}

/** GET on a connection of its own; resolves with status, headers and body, or the error. */
function get(port: number, path: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    },
  );
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
    cleanups.push(() => socket.destroy());
  });
}

/** Everything the server sends on `socket` until it closes the connection. */
function untilClosed(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      text += c;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
  });
}

describe('graceful shutdown', () => {
  it('finishes a slow in-flight request while readiness answers 503 and new connections are refused', async () => {
    const logs: Record<string, unknown>[] = [];
    const { service, started, open: release } = await slowService(5000, logs);
    const port = service.port;

    const slow = get(port, '/slow');
    await started;
    // A keep-alive connection that has served a request and now waits: shutdown closes it.
    const idle = await open(port);
    const idleClosed = untilClosed(idle);
    idle.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
    // A request whose head is still arriving when shutdown begins: it is served, then closed.
    const late = await open(port);
    const lateAnswer = untilClosed(late);
    await new Promise((resolve) => setTimeout(resolve, 50));
    late.write('GET /readyz HTTP/1.1\r\nHost: t\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));

    const stopped = service.stop();
    expect(service.ready).toBe(false);
    await expect(open(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(await idleClosed).toMatch(/^HTTP\/1\.1 200 /);

    late.write('\r\n');
    const answer = await lateAnswer;
    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(answer).toContain('"reason":"stopping"');

    release();
    const res = await slow;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ done: true });
    expect(res.headers.connection).toBe('close');
    expect(await stopped).toBe(true);
    expect(logs.map((l) => l.msg)).toContain('stopped');
  });

  it('cuts what is still in flight at the end of the grace period, logs it and reports it', async () => {
    const logs: Record<string, unknown>[] = [];
    const { service, started } = await slowService(200, logs);
    const slow = get(service.port, '/slow');
    await started;

    const began = performance.now();
    expect(await service.stop()).toBe(false);
    expect(performance.now() - began).toBeLessThan(1000);
    await expect(slow).rejects.toThrow(/socket hang up|ECONNRESET/);
    const cut = logs.find((l) => String(l.msg).startsWith('grace period over')) as {
      cut: { path: string }[];
    };
    expect(cut.cut).toEqual([expect.objectContaining({ method: 'GET', path: '/slow' })]);
  });
});

describe('a service process on SIGTERM', () => {
  const fixture = fileURLToPath(new URL('./shutdown.fixture.ts', import.meta.url));

  /** Starts the fixture and resolves once it listens, with its port and every log line so far. */
  async function startFixture(graceMs: number) {
    const child: ChildProcess = spawn(process.execPath, [fixture], {
      env: {
        ...process.env,
        PORT: '0',
        FLOTILLA_LOG_LEVEL: 'info',
        FLOTILLA_GRACE_PERIOD_MS: String(graceMs),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
    const logs: Record<string, unknown>[] = [];
    const waiters: { msg: string; resolve: (line: Record<string, unknown>) => void }[] = [];
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = JSON.parse(text) as Record<string, unknown>;
      logs.push(line);
      for (const w of waiters) if (w.msg === line.msg) w.resolve(line);
    });
    const logged = (msg: string) =>
      new Promise<Record<string, unknown>>((resolve) => {
        const seen = logs.find((l) => l.msg === msg);
        if (seen) resolve(seen);
        else waiters.push({ msg, resolve });
      });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const { port } = (await logged('listening')) as { port: number };
    return { child, port, logs, logged, exited };
  }

  it('finishes its in-flight request and exits 0', async () => {
    const { child, port, logs, logged, exited } = await startFixture(5000);
    const slow = get(port, '/slow?ms=400');
    await logged('slow request started');
    child.kill('SIGTERM');

    const res = await slow;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ slept: 400 });
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['signal received: draining', 'stopped']));
  }, 15_000);

  it('exits 1 and logs the request it cut when the grace period runs out', async () => {
    const { child, port, logs, logged, exited } = await startFixture(300);
    const slow = get(port, '/slow?ms=10000');
    slow.catch(() => undefined);
    await logged('slow request started');
    child.kill('SIGTERM');

    expect(await exited).toEqual({ code: 1, signal: null });
    await expect(slow).rejects.toThrow();
    const cut = logs.find((l) => String(l.msg).startsWith('grace period over')) as {
      cut: { path: string }[];
    };
    expect(cut.cut).toEqual([expect.objectContaining({ path: '/slow' })]);
  }, 15_000);
});

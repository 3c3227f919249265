import { type ChildProcess, spawn } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Endpoint } from '@flotilla/spec';
import type { Dispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createMeshClient } from './client.ts';
import { MESH_REQUEST_CHANNEL, type MeshRequestMessage } from './diagnostics.ts';
import { MeshError } from './errors.ts';
import {
  closedPort,
  eventually,
  rejection,
  startUpstream,
  startWatchServer,
  type TestUpstream,
  tableOf,
} from './test-support.ts';
import type { MeshClient, MeshClientOptions, MeshDispatchOptions, MeshLogger } from './types.ts';

const SOURCE = { workload: 'caller', version: 'v1' };
const TOKEN = 'data-plane-token';
const QUIET: MeshLogger = { info() {}, warn() {} };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function upstream(id: string, handler?: (req: IncomingMessage, res: ServerResponse) => void) {
  const started = await startUpstream(id, handler);
  cleanups.push(() => started.close());
  return started;
}

function client(options: Omit<MeshClientOptions, 'source'>): MeshClient {
  const mesh = createMeshClient({ source: SOURCE, log: QUIET, ...options });
  cleanups.push(() => mesh.close());
  return mesh;
}

async function watchServer() {
  const control = await startWatchServer(TOKEN);
  cleanups.push(() => control.kill());
  return control;
}

/** Runs `count` calls, `concurrency` at a time; returns the id of the endpoint that answered each. */
async function callMany(
  mesh: MeshClient,
  service: string,
  count: number,
  concurrency = 20,
): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const response = await mesh.request({ service, path: '/' });
      expect(response.statusCode).toBe(200);
      ids.push(response.endpoint.id);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return ids;
}

/** An instance in a process of its own that answers after 10 ms, so that calls are in flight when it is killed. */
async function spawnInstance(id: string): Promise<{ child: ChildProcess; endpoint: Endpoint }> {
  const code = `
    const server = require('node:http').createServer((req, res) => {
      setTimeout(() => res.end(JSON.stringify({ id: ${JSON.stringify(id)} })), 10);
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  return { child, endpoint: { id, service: 's', version: 'v1', host: '127.0.0.1', port } };
}

/** A handler that records what a streaming dispatch delivers. */
function recordingHandler() {
  const events: string[] = [];
  const chunks: Buffer[] = [];
  let controller: Dispatcher.DispatchController | undefined;
  let settle: (value: Error | undefined) => void = () => {};
  const done = new Promise<Error | undefined>((resolve) => {
    settle = resolve;
  });
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(c) {
      controller = c;
      events.push('start');
    },
    onResponseStart(_c, statusCode) {
      events.push(`response ${statusCode}`);
    },
    onResponseData(_c, chunk) {
      chunks.push(chunk);
    },
    onResponseEnd() {
      events.push('end');
      settle(undefined);
    },
    onResponseError(_c, error) {
      events.push('error');
      settle(error);
    },
  };
  return {
    handler,
    events,
    done,
    body: () => Buffer.concat(chunks).toString(),
    controller: () => controller,
  };
}

describe('calls on a static table', () => {
  it('routes a request to an endpoint of the service and says which one answered', async () => {
    const a = await upstream('orders-v1-1');
    const mesh = client({
      table: tableOf(1, { orders: { versions: { v1: 100 }, endpoints: [a.endpoint('orders', 'v1')] } }),
    });
    await mesh.ready();
    const response = await mesh.request({
      service: 'orders',
      method: 'POST',
      path: '/orders?x=1',
      body: 'hello',
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ id: 'orders-v1-1', method: 'POST', url: '/orders?x=1', body: 'hello' });
    expect(response.endpoint).toEqual({ id: 'orders-v1-1', version: 'v1' });
  });

  it('sends every endpoint of a version some of the traffic', async () => {
    const endpoints = await Promise.all(['a', 'b', 'c'].map((id) => upstream(id)));
    const mesh = client({
      table: tableOf(1, {
        s: { versions: { v1: 100 }, endpoints: endpoints.map((e) => e.endpoint('s', 'v1')) },
      }),
    });
    const ids = await callMany(mesh, 's', 150);
    expect(new Set(ids)).toEqual(new Set(['a', 'b', 'c']));
  });

  it('splits traffic between versions by weight: 80/20 over 2000 calls', async () => {
    const v1 = await upstream('s-v1');
    const v2 = await upstream('s-v2');
    const mesh = client({
      table: tableOf(1, {
        s: { versions: { v1: 80, v2: 20 }, endpoints: [v1.endpoint('s', 'v1'), v2.endpoint('s', 'v2')] },
      }),
    });
    const ids = await callMany(mesh, 's', 2000, 50);
    const share = ids.filter((id) => id === 's-v2').length / ids.length;
    // The standard deviation of the share is 0.009; 0.04 either side is more than four of them.
    expect(share).toBeGreaterThan(0.16);
    expect(share).toBeLessThan(0.24);
  });

  it('gives the share of a version without endpoints to the versions that have some', async () => {
    const v2 = await upstream('s-v2');
    const mesh = client({
      table: tableOf(1, { s: { versions: { v1: 80, v2: 20 }, endpoints: [v2.endpoint('s', 'v2')] } }),
    });
    expect(new Set(await callMany(mesh, 's', 50))).toEqual(new Set(['s-v2']));
  });

  it('falls back to a version with weight 0 rather than fail when the weighted one has no endpoint', async () => {
    const dark = await upstream('s-dark');
    const mesh = client({
      table: tableOf(1, { s: { versions: { v1: 100, dark: 0 }, endpoints: [dark.endpoint('s', 'dark')] } }),
    });
    expect(new Set(await callMany(mesh, 's', 20))).toEqual(new Set(['s-dark']));
  });

  it('fails with MESH_UNKNOWN_SERVICE (NR) for a service that is not in the table', async () => {
    const mesh = client({ table: tableOf(1, {}) });
    const error = await rejection(mesh.request({ service: 'nope', path: '/' }));
    expect(error).toBeInstanceOf(MeshError);
    expect(error).toMatchObject({ code: 'MESH_UNKNOWN_SERVICE', responseFlag: 'NR', service: 'nope' });
  });

  it('fails with MESH_NO_ENDPOINT (UH) when the service has no ready endpoint', async () => {
    const mesh = client({ table: tableOf(1, { s: { versions: { v1: 100 }, endpoints: [] } }) });
    const error = await rejection(mesh.request({ service: 's', path: '/' }));
    expect(error).toMatchObject({ code: 'MESH_NO_ENDPOINT', responseFlag: 'UH' });
  });
});

describe('retries of calls that never reached a process', () => {
  it('retries a refused connection on another endpoint: no failed call over 200 with a closed port in the table', async () => {
    const live = await Promise.all(['a', 'b'].map((id) => upstream(id)));
    const dead = { id: 'dead', service: 's', version: 'v1', host: '127.0.0.1', port: await closedPort() };
    let refused = 0;
    const onConnectError = () => refused++;
    diagnosticsChannel.subscribe('undici:client:connectError', onConnectError);
    try {
      for (const balancer of ['least-request', 'round-robin'] as const) {
        const mesh = client({
          balancer,
          table: tableOf(1, {
            s: { versions: { v1: 100 }, endpoints: [dead, ...live.map((e) => e.endpoint('s', 'v1'))] },
          }),
        });
        refused = 0;
        const ids = await callMany(mesh, 's', 200);
        expect(ids).toHaveLength(200);
        expect(ids).not.toContain('dead');
        // The closed port was really tried, every refusal was absorbed by a retry, and after five
        // in a row outlier detection took it out of rotation (at most the calls in flight then
        // were still on their way to it).
        expect(refused).toBeGreaterThanOrEqual(5);
        expect(refused).toBeLessThanOrEqual(5 + 20);
      }
    } finally {
      diagnosticsChannel.unsubscribe('undici:client:connectError', onConnectError);
    }
  });

  it('hides a kill -9 of one of two instances under load: no call fails, in flight or after', async () => {
    const instances = await Promise.all(['p1', 'p2'].map((id) => spawnInstance(id)));
    const mesh = client({
      table: tableOf(1, { s: { versions: { v1: 100 }, endpoints: instances.map((i) => i.endpoint) } }),
    });
    const failures: Error[] = [];
    const answeredBy = new Map<string, number>();
    let running = true;
    const worker = async () => {
      while (running) {
        try {
          const { id } = (await mesh.request({ service: 's', path: '/' })).json<{ id: string }>();
          answeredBy.set(id, (answeredBy.get(id) ?? 0) + 1);
        } catch (error) {
          failures.push(error as Error);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 16 }, worker));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = answeredBy.get('p1') ?? 0;
    instances[0]!.child.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 400));
    running = false;
    await load;
    expect(failures).toEqual([]);
    expect(before).toBeGreaterThan(0);
    expect(answeredBy.get('p2')).toBeGreaterThan(0);
  });

  it('fails with MESH_CONNECT_FAILED (UF) when every endpoint refuses', async () => {
    const endpoints = [await closedPort(), await closedPort()].map((port, i) => ({
      id: `dead-${i}`,
      service: 's',
      version: 'v1',
      host: '127.0.0.1',
      port,
    }));
    const mesh = client({ table: tableOf(1, { s: { versions: { v1: 100 }, endpoints } }) });
    const error = await rejection(mesh.request({ service: 's', path: '/' }));
    expect(error).toMatchObject({ code: 'MESH_CONNECT_FAILED', responseFlag: 'UF' });
    expect((error.cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('retries a connection reset before any response byte when the request is safe to repeat', async () => {
    const dying = await upstream('dying', (req) => req.socket.destroy());
    const healthy = await upstream('healthy');
    const mesh = client({
      balancer: 'round-robin',
      table: tableOf(1, {
        s: { versions: { v1: 100 }, endpoints: [dying.endpoint('s', 'v1'), healthy.endpoint('s', 'v1')] },
      }),
    });
    for (let i = 0; i < 10; i++) {
      const response = await mesh.request({
        service: 's',
        method: 'POST',
        path: '/',
        headers: { 'idempotency-key': `key-${i}` },
        body: `call ${i}`,
      });
      expect(response.json()).toMatchObject({ id: 'healthy', body: `call ${i}` });
      const put = await mesh.request({ service: 's', method: 'PUT', path: '/', body: `put ${i}` });
      expect(put.json()).toMatchObject({ id: 'healthy', body: `put ${i}` });
    }
    expect(dying.hits).toBeGreaterThan(0);
  });

  it('does not send a POST without an idempotency key again after a reset: it may have run once', async () => {
    const dying = await upstream('dying', (req) => req.socket.destroy());
    const healthy = await upstream('healthy');
    const mesh = client({
      balancer: 'round-robin',
      table: tableOf(1, {
        s: { versions: { v1: 100 }, endpoints: [dying.endpoint('s', 'v1'), healthy.endpoint('s', 'v1')] },
      }),
    });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        mesh.request({ service: 's', method: 'POST', path: '/', body: `call ${i}` }),
      ),
    );
    const failed = outcomes.filter((o) => o.status === 'rejected');
    expect(failed.length).toBe(dying.hits);
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed)
      expect((f as PromiseRejectedResult).reason).toMatchObject({ code: 'MESH_UPSTREAM_RESET' });
  });

  it('sends a streamed body on to another endpoint when the first refused the connection, since nothing of it was read', async () => {
    const live = await upstream('live');
    const dead = { id: 'dead', service: 's', version: 'v1', host: '127.0.0.1', port: await closedPort() };
    // Outlier detection off, so that every call may meet the closed port first.
    const table = tableOf(1, { s: { versions: { v1: 100 }, endpoints: [dead, live.endpoint('s', 'v1')] } });
    table.services.s = {
      ...table.services.s!,
      resilience: {
        ...table.services.s!.resilience,
        outlierDetection: { consecutiveErrors: 0, baseEjectionMs: 1, maxEjectionPercent: 0 },
      },
    };
    const mesh = client({ balancer: 'round-robin', table });
    for (let i = 0; i < 6; i++) {
      const call = recordingHandler();
      mesh.dispatch(
        { service: 's', method: 'POST', path: '/', body: Readable.from([`part ${i} `, 'and the rest']) },
        call.handler,
      );
      expect(await call.done).toBeUndefined();
      expect(JSON.parse(call.body())).toMatchObject({ id: 'live', body: `part ${i} and the rest` });
    }
  });

  it('does not retry a reset when the request body was a stream: MESH_UPSTREAM_RESET (UC)', async () => {
    const dying = await upstream('dying', (req) => req.socket.destroy());
    const mesh = client({
      table: tableOf(1, { s: { versions: { v1: 100 }, endpoints: [dying.endpoint('s', 'v1')] } }),
    });
    const call = recordingHandler();
    mesh.dispatch({ service: 's', method: 'POST', path: '/', body: Readable.from(['a', 'b']) }, call.handler);
    const error = await call.done;
    expect(error).toMatchObject({ code: 'MESH_UPSTREAM_RESET', responseFlag: 'UC' });
    expect(dying.hits).toBe(1);
  });

  it('does not retry once the response has started: the caller gets MESH_UPSTREAM_RESET (UC) after the headers', async () => {
    const cut = await upstream('cut', (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const mesh = client({
      table: tableOf(1, { s: { versions: { v1: 100 }, endpoints: [cut.endpoint('s', 'v1')] } }),
    });
    const call = recordingHandler();
    mesh.dispatch({ service: 's', method: 'GET', path: '/' }, call.handler);
    const error = await call.done;
    expect(call.events).toEqual(['start', 'response 200', 'error']);
    expect(call.body()).toBe('partial');
    expect(error).toMatchObject({ code: 'MESH_UPSTREAM_RESET', responseFlag: 'UC' });
    expect(cut.hits).toBe(1);
  });
});

describe('deadlines and aborts', () => {
  it('fails with MESH_TIMEOUT (UT) at the deadline, and the upstream sees the abort', async () => {
    let upstreamSawClose = false;
    const stuck = await upstream('stuck', (req) => {
      req.socket.on('close', () => {
        upstreamSawClose = true;
      });
    });
    const mesh = client({
      table: tableOf(1, { s: { versions: { v1: 100 }, endpoints: [stuck.endpoint('s', 'v1')] } }),
    });
    const started = performance.now();
    const error = await rejection(mesh.request({ service: 's', path: '/', timeoutMs: 200 }));
    const elapsedMs = performance.now() - started;
    expect(error).toMatchObject({ code: 'MESH_TIMEOUT', responseFlag: 'UT' });
    expect(elapsedMs).toBeGreaterThanOrEqual(190);
    expect(elapsedMs).toBeLessThan(1_000);
    await eventually(() => upstreamSawClose, 2_000);
  });

  it('counts the response body inside the deadline', async () => {
    const slowBody = await upstream('slow-body', (_req, res) => {
      res.writeHead(200);
      res.write('first');
    });
    const mesh = client({
      table: tableOf(1, { s: { versions: { v1: 100 }, endpoints: [slowBody.endpoint('s', 'v1')] } }),
    });
    const call = recordingHandler();
    mesh.dispatch({ service: 's', method: 'GET', path: '/', timeoutMs: 200 }, call.handler);
    const error = await call.done;
    expect(call.events).toEqual(['start', 'response 200', 'error']);
    expect(error).toMatchObject({ code: 'MESH_TIMEOUT' });
  });

  it('ends a call its caller aborts, with the caller’s reason, and closes the upstream request', async () => {
    let upstreamSawClose = false;
    const stuck = await upstream('stuck', (req) => {
      req.socket.on('close', () => {
        upstreamSawClose = true;
      });
    });
    const mesh = client({
      table: tableOf(1, { s: { versions: { v1: 100 }, endpoints: [stuck.endpoint('s', 'v1')] } }),
    });
    const controller = new AbortController();
    const pending = mesh.request({ service: 's', path: '/', signal: controller.signal });
    await eventually(() => stuck.hits === 1);
    controller.abort(new Error('caller went away'));
    expect((await rejection(pending)).message).toBe('caller went away');
    await eventually(() => upstreamSawClose, 2_000);
  });

  it('fails request() when the response body is larger than maxResponseBytes', async () => {
    const big = await upstream('big', (_req, res) => res.end(Buffer.alloc(4096)));
    const mesh = client({
      maxResponseBytes: 1024,
      table: tableOf(1, { s: { versions: { v1: 100 }, endpoints: [big.endpoint('s', 'v1')] } }),
    });
    const error = await rejection(mesh.request({ service: 's', path: '/' }));
    expect(error).toMatchObject({ code: 'UND_ERR_RES_EXCEEDED_MAX_SIZE' });
  });
});

describe('streaming dispatch', () => {
  it('carries a streamed request body to the upstream and the response body back', async () => {
    const echo = await upstream('echo', (req, res) => {
      res.writeHead(201, { 'content-type': 'text/plain' });
      req.pipe(res);
    });
    const mesh = client({
      table: tableOf(1, { s: { versions: { v1: 100 }, endpoints: [echo.endpoint('s', 'v1')] } }),
    });
    const parts = Array.from({ length: 50 }, (_, i) => `part ${i};`);
    const call = recordingHandler();
    const options: MeshDispatchOptions = {
      service: 's',
      method: 'PUT',
      path: '/echo',
      body: Readable.from(parts),
    };
    mesh.dispatch(options, call.handler);
    expect(await call.done).toBeUndefined();
    expect(call.events).toEqual(['start', 'response 201', 'end']);
    expect(call.body()).toBe(parts.join(''));
  });

  it('hands the caller a controller at once, whose pause holds the response until resume', async () => {
    const chatty = await upstream('chatty', (_req, res) => res.end('x'.repeat(256 * 1024)));
    const mesh = client({
      table: tableOf(1, { s: { versions: { v1: 100 }, endpoints: [chatty.endpoint('s', 'v1')] } }),
    });
    let received = 0;
    let pausedAt = -1;
    const ended = new Promise<void>((resolve, reject) => {
      mesh.dispatch(
        { service: 's', method: 'GET', path: '/' },
        {
          onRequestStart() {},
          onResponseStart() {},
          onResponseData(controller, chunk) {
            received += chunk.length;
            if (pausedAt === -1) {
              pausedAt = received;
              controller.pause();
              setTimeout(() => {
                expect(received).toBe(pausedAt);
                controller.resume();
              }, 100);
            }
          },
          onResponseEnd: () => resolve(),
          onResponseError: (_c, error) => reject(error),
        },
      );
    });
    await ended;
    expect(received).toBe(256 * 1024);
  });
});

describe('diagnostics', () => {
  it('publishes one message per finished call with the fields of Istio’s request metrics', async () => {
    const a = await upstream('s-v2-1', (_req, res) => res.writeHead(418).end());
    const mesh = client({
      table: tableOf(1, { diag: { versions: { v2: 100 }, endpoints: [a.endpoint('diag', 'v2')] } }),
    });
    const messages: MeshRequestMessage[] = [];
    const listener = (message: unknown) => messages.push(message as MeshRequestMessage);
    diagnosticsChannel.subscribe(MESH_REQUEST_CHANNEL, listener);
    try {
      await mesh.request({ service: 'diag', method: 'DELETE', path: '/' });
      await rejection(mesh.request({ service: 'missing', path: '/' }));
    } finally {
      diagnosticsChannel.unsubscribe(MESH_REQUEST_CHANNEL, listener);
    }
    expect(messages).toHaveLength(2);
    expect(messages[0]).toEqual({
      sourceWorkload: 'caller',
      sourceVersion: 'v1',
      destinationService: 'diag',
      destinationVersion: 'v2',
      endpointId: 's-v2-1',
      method: 'DELETE',
      statusCode: 418,
      responseFlags: '-',
      durationMs: expect.any(Number),
      connectionSecurityPolicy: 'none',
      retries: 0,
    });
    expect(messages[0]!.durationMs).toBeGreaterThan(0);
    expect(messages[1]).toMatchObject({
      destinationService: 'missing',
      destinationVersion: 'unknown',
      endpointId: 'unknown',
      method: 'GET',
      statusCode: 0,
      responseFlags: 'NR',
    });
  });
});

describe('following the control plane', () => {
  async function setup() {
    const control = await watchServer();
    const mesh = client({ controlUrl: control.url, token: TOKEN });
    return { control, mesh };
  }

  function serviceWith(revision: number, ...instances: TestUpstream[]) {
    return tableOf(revision, {
      s: { versions: { v1: 100 }, endpoints: instances.map((i) => i.endpoint('s', 'v1')) },
    });
  }

  it('discovers endpoints from the watch stream and stops calling the ones removed from it', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    const { control, mesh } = await setup();
    control.publish(serviceWith(1, a));
    await mesh.ready(2_000);
    expect(new Set(await callMany(mesh, 's', 20))).toEqual(new Set(['a']));
    const seen = new Promise<void>((resolve) => mesh.onTable(() => resolve()));
    control.publish(serviceWith(2, a, b));
    await seen;
    expect(new Set(await callMany(mesh, 's', 40))).toEqual(new Set(['a', 'b']));
    control.publish(serviceWith(3, b));
    await eventually(() => mesh.table()?.revision === 3);
    expect(new Set(await callMany(mesh, 's', 20))).toEqual(new Set(['b']));
  });

  it('keeps its table and keeps calling when the control plane is killed', async () => {
    const a = await upstream('a');
    const { control, mesh } = await setup();
    control.publish(serviceWith(1, a));
    await mesh.ready(2_000);
    await control.kill();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(mesh.table()?.revision).toBe(1);
    expect(await callMany(mesh, 's', 20)).toHaveLength(20);
  });

  it('picks up a later table once the control plane is back', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    const { control, mesh } = await setup();
    control.publish(serviceWith(1, a));
    await mesh.ready(2_000);
    await control.kill();
    await control.restart();
    control.publish(serviceWith(2, b));
    await eventually(() => mesh.table()?.revision === 2);
    expect(control.requests.at(-1)?.['last-event-id']).toBe('1');
    expect(new Set(await callMany(mesh, 's', 20))).toEqual(new Set(['b']));
  });

  it('ignores a table whose revision is not higher than the one held', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    const { control, mesh } = await setup();
    control.publish(serviceWith(5, a));
    await mesh.ready(2_000);
    control.publish(serviceWith(5, b));
    control.publish(serviceWith(4, b));
    control.publish(serviceWith(6, a));
    await eventually(() => mesh.table()?.revision === 6);
    expect(new Set(await callMany(mesh, 's', 10))).toEqual(new Set(['a']));
  });

  it('lets calls in flight on a removed endpoint finish, then closes its pool', async () => {
    let release: () => void = () => {};
    const slow = await upstream('slow', (_req, res) => {
      release = () => res.end('done');
    });
    const other = await upstream('other');
    const { control, mesh } = await setup();
    control.publish(serviceWith(1, slow));
    await mesh.ready(2_000);
    const inFlight = mesh.request({ service: 's', path: '/' });
    await eventually(() => slow.hits === 1);
    control.publish(serviceWith(2, other));
    await eventually(() => mesh.table()?.revision === 2);
    expect(slow.sockets.size).toBe(1);
    release();
    expect((await inFlight).text()).toBe('done');
    // The pool closes its kept-alive connection once the call is done.
    await eventually(() => slow.sockets.size === 0, 2_000);
    expect(new Set(await callMany(mesh, 's', 10))).toEqual(new Set(['other']));
  });

  it('rejects ready() with MESH_WATCH_NO_TABLE, naming the refused token as the cause', async () => {
    const control = await watchServer();
    const mesh = client({ controlUrl: control.url, token: 'wrong' });
    const error = await rejection(mesh.ready(500));
    expect(error).toMatchObject({ code: 'MESH_WATCH_NO_TABLE' });
    expect(error.cause).toMatchObject({ code: 'MESH_WATCH_UNAUTHORIZED', statusCode: 401 });
  });
});

describe('createMeshClient', () => {
  it('refuses options without a control plane URL or a table', () => {
    expect(() => createMeshClient({ source: SOURCE })).toThrow(/controlUrl .* or a fixed table/);
  });

  it('fails calls made after close', async () => {
    const mesh = createMeshClient({ source: SOURCE, table: tableOf(1, {}) });
    await mesh.close();
    const error = await rejection(mesh.request({ service: 's', path: '/' }));
    expect(error).toMatchObject({ code: 'UND_ERR_CLOSED' });
  });
});

import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  DEFAULT_RESILIENCE,
  type Endpoint,
  HEADERS,
  type ResilienceOverride,
  type RoutingTable,
  resolveResilience,
} from '@flotilla/spec';
import type { Dispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createMeshClient } from './client.ts';
import {
  closedPort,
  eventually,
  meshMessages,
  rejection,
  startUpstream,
  startWatchServer,
  tableOf,
} from './test-support.ts';
import type { MeshClient, MeshClientOptions, MeshResponse } from './types.ts';

/**
 * The resilience of a table (retries, retry budget, per-try and call deadlines, circuit breaker,
 * outlier detection) seen through real calls to upstream servers on 127.0.0.1, with the limits
 * set small so that each shows within a second or a few.
 */

const SOURCE = { workload: 'caller', version: 'v1' };
const QUIET = { info() {}, warn() {} };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function upstream(id: string, handler?: Handler) {
  const started = await startUpstream(id, handler);
  cleanups.push(() => started.close());
  return started;
}

/** Answers `status` to the first request for each path and 200 to every later one. */
function failsFirst(status: number, headers: Record<string, string> = {}) {
  const seen = new Map<string, number[]>();
  const handler: Handler = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const arrivals = seen.get(req.url!) ?? [];
      arrivals.push(performance.now());
      seen.set(req.url!, arrivals);
      if (arrivals.length === 1) res.writeHead(status, headers).end();
      else res.end(Buffer.concat(chunks));
    });
  };
  return { handler, arrivals: seen };
}

const answering =
  (status: number, headers: Record<string, string> = {}): Handler =>
  (_req, res) =>
    res.writeHead(status, headers).end();

/** A port nothing listens on, as an endpoint: its connections are refused. */
async function refusing(id: string): Promise<Endpoint> {
  return { id, service: 's', version: 'v1', host: '127.0.0.1', port: await closedPort() };
}

/** A table with service `s` at one version, over `endpoints`, with `resilience` over the defaults. */
function tableWith(revision: number, endpoints: Endpoint[], resilience?: ResilienceOverride): RoutingTable {
  const table = tableOf(revision, { s: { versions: { v1: 100 }, endpoints } });
  table.services.s = { ...table.services.s!, resilience: resolveResilience(DEFAULT_RESILIENCE, resilience) };
  return table;
}

function client(table: RoutingTable, options: Partial<MeshClientOptions> = {}): MeshClient {
  const mesh = createMeshClient({ source: SOURCE, log: QUIET, table, ...options });
  cleanups.push(() => mesh.close());
  return mesh;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A handler of a streaming dispatch that records the callbacks it gets. */
function recordingHandler() {
  const events: string[] = [];
  const errors: Error[] = [];
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart: () => events.push('start'),
    onResponseStart: (_c, statusCode) => events.push(`response ${statusCode}`),
    onResponseEnd: () => events.push('end'),
    onResponseError: (_c, error) => {
      events.push('error');
      errors.push(error);
    },
  };
  return { handler, events, errors };
}

describe('retries only where safe', () => {
  it('retries a GET answered 503 once, after a backoff drawn at random within the first window', async () => {
    const flaky = failsFirst(503);
    const a = await upstream('a', flaky.handler);
    const mesh = client(tableWith(1, [a.endpoint('s', 'v1')], { retries: { backoffBaseMs: 200 } }));
    const messages = meshMessages((stop) => cleanups.push(stop));
    for (let i = 0; i < 10; i++) {
      expect((await mesh.request({ service: 's', path: `/call-${i}` })).statusCode).toBe(200);
    }
    expect(a.hits).toBe(20);
    // Full jitter: each wait is uniform in [0, 200) ms (plus the time of a try and a busy machine's
    // timer lag), so ten of them are not all alike: a spread under 20 ms has odds below 1e-6.
    const waits = [...flaky.arrivals.values()].map(([first, second]) => second! - first!);
    for (const wait of waits) expect(wait).toBeLessThan(200 + 150);
    expect(Math.max(...waits) - Math.min(...waits)).toBeGreaterThan(20);
    expect(messages.map((m) => [m.statusCode, m.retries, m.responseFlags])).toEqual(
      Array.from({ length: 10 }, () => [200, 1, '-']),
    );
  });

  it('does not send a POST without an Idempotency-Key again after a 503: it may have run', async () => {
    const a = await upstream('a', failsFirst(503).handler);
    const mesh = client(tableWith(1, [a.endpoint('s', 'v1')]));
    const response = await mesh.request({ service: 's', method: 'POST', path: '/', body: 'order' });
    expect(response.statusCode).toBe(503);
    expect(a.hits).toBe(1);
  });

  it('retries a POST answered 503 when it carries an Idempotency-Key, body and all', async () => {
    const a = await upstream('a', failsFirst(503).handler);
    const mesh = client(tableWith(1, [a.endpoint('s', 'v1')]));
    const response = await mesh.request({
      service: 's',
      method: 'POST',
      path: '/',
      headers: { 'idempotency-key': 'order-1' },
      body: 'order',
    });
    expect(response.statusCode).toBe(200);
    expect(response.text()).toBe('order');
    expect(a.hits).toBe(2);
  });

  it('never retries a 503 that says the destination is overloaded', async () => {
    const a = await upstream('a', answering(503, { [HEADERS.overloaded]: '1' }));
    const b = await upstream('b', answering(503, { [HEADERS.overloaded]: '1' }));
    const mesh = client(tableWith(1, [a.endpoint('s', 'v1'), b.endpoint('s', 'v1')]));
    for (let i = 0; i < 4; i++) {
      expect((await mesh.request({ service: 's', path: '/' })).statusCode).toBe(503);
    }
    expect(a.hits + b.hits).toBe(4);
  });

  it('answers a 500 as it is by default, and retries it with retryOn 5xx', async () => {
    const a = await upstream('a', failsFirst(500).handler);
    const byDefault = client(tableWith(1, [a.endpoint('s', 'v1')]));
    expect((await byDefault.request({ service: 's', path: '/default' })).statusCode).toBe(500);
    expect(a.hits).toBe(1);
    const any5xx = client(tableWith(1, [a.endpoint('s', 'v1')], { retries: { retryOn: ['5xx'] } }));
    expect((await any5xx.request({ service: 's', path: '/5xx' })).statusCode).toBe(200);
    expect(a.hits).toBe(3);
  });

  it('never retries with attempts 0: not a 503, not a refused connection', async () => {
    const a = await upstream('a', failsFirst(503).handler);
    const mesh = client(
      tableWith(1, [await refusing('dead'), a.endpoint('s', 'v1')], { retries: { attempts: 0 } }),
      { balancer: 'round-robin' },
    );
    const outcomes = [];
    for (let i = 0; i < 4; i++) {
      outcomes.push(
        await mesh.request({ service: 's', path: `/call-${i}` }).then(
          (response) => response.statusCode,
          (error: { code: string }) => error.code,
        ),
      );
    }
    // Round robin alternates: two calls met the refused port, two the 503.
    expect(outcomes.sort()).toEqual(['MESH_CONNECT_FAILED', 'MESH_CONNECT_FAILED', 503, 503].sort());
    expect(a.hits).toBe(2);
  });

  it('retries a refused connection on another endpoint even for a POST without a key: it never ran', async () => {
    const live = await upstream('live', failsFirst(200).handler);
    const mesh = client(tableWith(1, [await refusing('dead'), live.endpoint('s', 'v1')]), {
      balancer: 'round-robin',
    });
    const messages = meshMessages((stop) => cleanups.push(stop));
    for (let i = 0; i < 6; i++) {
      const response = await mesh.request({
        service: 's',
        method: 'POST',
        path: `/${i}`,
        body: `order ${i}`,
      });
      expect(response.statusCode).toBe(200);
      expect(response.endpoint.id).toBe('live');
    }
    expect(live.hits).toBe(6);
    // Round robin's next pick after a retry is the refusing endpoint again, until it is ejected.
    expect(messages.filter((m) => m.retries === 1).length).toBeGreaterThanOrEqual(3);
  });

  it('sends the retry of a 503 to another endpoint than the one that answered it', async () => {
    const bad = await upstream('bad', answering(503));
    const good = await upstream('good');
    const mesh = client(
      tableWith(1, [bad.endpoint('s', 'v1'), good.endpoint('s', 'v1')], {
        retries: { attempts: 1, backoffBaseMs: 1, backoffMaxMs: 1 },
        retryBudget: { minRetriesPerSecond: 1_000 },
        outlierDetection: { consecutiveErrors: 0 },
      }),
    );
    for (let i = 0; i < 40; i++) {
      const response = await mesh.request({ service: 's', path: '/' });
      expect(response.statusCode).toBe(200);
    }
    expect(bad.hits).toBeGreaterThan(0);
    expect(good.hits).toBe(40);
  });
});

describe('the retry budget', () => {
  it('keeps retries within 20% of calls plus 10/s through an outage under steady load, and every call succeeds once it ends', async () => {
    const RATE_PER_S = 200;
    const OUTAGE_MS = 5_000;
    let healthy = false;
    /** Requests received per call, by the call's number. */
    const received = new Map<string, number>();
    const dependency: Handler = (req, res) => {
      const call = req.headers['x-call'] as string;
      received.set(call, (received.get(call) ?? 0) + 1);
      // Answers take 50 ms, so that calls overlap and the percentage, not only the 10/s, has a say.
      setTimeout(() => res.writeHead(healthy ? 200 : 503).end(), 50);
    };
    const instances = await Promise.all(['d1', 'd2'].map((id) => upstream(id, dependency)));
    const mesh = client(
      tableWith(
        1,
        instances.map((i) => i.endpoint('s', 'v1')),
        { retries: { attempts: 2 }, retryBudget: { percent: 20, minRetriesPerSecond: 10 } },
      ),
    );
    const outcomes: { call: number; startedAt: number; status: number | string }[] = [];
    const pending: Promise<void>[] = [];
    const call = (n: number) => {
      const startedAt = performance.now();
      pending.push(
        mesh.request({ service: 's', path: '/', headers: { 'x-call': String(n) } }).then(
          (response) => void outcomes.push({ call: n, startedAt, status: response.statusCode }),
          (error: { code: string }) => void outcomes.push({ call: n, startedAt, status: error.code }),
        ),
      );
    };
    /** Starts calls at RATE_PER_S for `ms`, numbering them from `first`; returns how many. */
    const load = async (first: number, ms: number) => {
      const startedAt = performance.now();
      let sent = 0;
      while (performance.now() - startedAt < ms) {
        const due = Math.floor(((performance.now() - startedAt) * RATE_PER_S) / 1000);
        while (sent < due) call(first + sent++);
        await sleep(5);
      }
      return sent;
    };

    const outageCalls = await load(0, OUTAGE_MS);
    healthy = true;
    const recoveredAt = performance.now();
    const laterCalls = await load(outageCalls, 1_000);
    await Promise.all(pending);

    expect(outageCalls).toBeGreaterThan(0.9 * RATE_PER_S * (OUTAGE_MS / 1000));
    let retries = 0;
    for (let n = 0; n < outageCalls; n++) retries += (received.get(String(n)) ?? 0) - 1;
    // Without a budget there would be two retries per call. The slack is the bucket's 10 at the start.
    expect(retries).toBeGreaterThan(0);
    expect(retries).toBeLessThanOrEqual(0.2 * outageCalls + 10 * (OUTAGE_MS / 1000) + 10 + 5);
    const after = outcomes.filter((o) => o.startedAt >= recoveredAt);
    expect(after.length).toBe(laterCalls);
    expect(after.filter((o) => o.status !== 200)).toEqual([]);
  }, 15_000);
});

describe('deadlines', () => {
  it('takes an answer from another endpoint once a hanging one uses up its per-try timeout, and aborts it there', async () => {
    const tries: { timeout: string | undefined; closedAt?: number }[] = [];
    const hang = await upstream('hang', (req, res) => {
      const seen: (typeof tries)[number] = { timeout: req.headers[HEADERS.timeout] as string | undefined };
      tries.push(seen);
      res.on('close', () => {
        seen.closedAt = performance.now();
      });
    });
    const answers = await upstream('answers');
    const mesh = client(
      tableWith(1, [hang.endpoint('s', 'v1'), answers.endpoint('s', 'v1')], {
        timeoutMs: 2_000,
        retries: { perTryTimeoutMs: 100 },
      }),
      // Round robin sends one of any two calls in a row to the hanging endpoint first.
      { balancer: 'round-robin' },
    );
    const elapsed: number[] = [];
    for (let i = 0; i < 4; i++) {
      const started = performance.now();
      const response = await mesh.request({ service: 's', path: '/' });
      elapsed.push(performance.now() - started);
      expect(response.statusCode).toBe(200);
      expect(response.endpoint.id).toBe('answers');
    }
    expect(hang.hits).toBeGreaterThanOrEqual(2);
    expect(tries.every((t) => t.timeout === '100')).toBe(true);
    expect(Math.max(...elapsed)).toBeGreaterThanOrEqual(95);
    expect(Math.max(...elapsed)).toBeLessThan(1_000);
    await eventually(() => tries.every((t) => t.closedAt !== undefined), 1_000);
  });

  it('retries a try that ran past its per-try timeout under retryOn gateway-error alone, as Envoy counts it a 504', async () => {
    const hang = await upstream('hang', () => {});
    const answers = await upstream('answers');
    const mesh = client(
      tableWith(1, [hang.endpoint('s', 'v1'), answers.endpoint('s', 'v1')], {
        timeoutMs: 2_000,
        retries: { perTryTimeoutMs: 100, retryOn: ['gateway-error'] },
      }),
      { balancer: 'round-robin' },
    );
    for (let i = 0; i < 4; i++) {
      const response = await mesh.request({ service: 's', path: '/' });
      expect(response.endpoint.id).toBe('answers');
    }
    expect(hang.hits).toBeGreaterThanOrEqual(2);
  });

  it('answers MESH_TIMEOUT at the 3 s deadline rather than wait out a 7 s delay, and the upstream sees the request closed then', async () => {
    let closedAt = 0;
    const slow = await upstream('slow', (_req, res) => {
      const timer = setTimeout(() => res.end('late'), 7_000);
      res.on('close', () => {
        closedAt = performance.now();
        clearTimeout(timer);
      });
    });
    const mesh = client(tableWith(1, [slow.endpoint('s', 'v1')], { timeoutMs: 3_000 }));
    const started = performance.now();
    const error = await rejection(mesh.request({ service: 's', path: '/' }));
    const elapsedMs = performance.now() - started;
    expect(error).toMatchObject({ code: 'MESH_TIMEOUT', responseFlag: 'UT' });
    expect(elapsedMs).toBeGreaterThanOrEqual(2_990);
    expect(elapsedMs).toBeLessThan(4_000);
    await eventually(() => closedAt > 0, 1_000);
    expect(closedAt - started).toBeGreaterThanOrEqual(2_990);
    expect(closedAt - started).toBeLessThan(4_000);
    expect(slow.hits).toBe(1);
  }, 10_000);
});

describe('the circuit breaker', () => {
  /** An upstream that holds every request while `holding`, and answers at once otherwise. */
  async function holdingUpstream(id: string) {
    const held: ServerResponse[] = [];
    const state = { holding: true };
    const started = await upstream(id, (_req, res) => {
      if (state.holding) held.push(res);
      else res.end(id);
    });
    const release = () => {
      state.holding = false;
      for (const res of held.splice(0)) res.end(id);
    };
    return { upstream: started, held, state, release };
  }

  it('counts an attempt out once when the caller’s handler throws in onResponseEnd (undici reports it as an error too)', async () => {
    const slow = await holdingUpstream('slow');
    slow.state.holding = false;
    const mesh = client(
      tableWith(1, [slow.upstream.endpoint('s', 'v1')], { circuitBreaker: { maxRequests: 1 } }),
    );
    // A streaming caller whose handler throws at the end of a normal answer.
    await new Promise<void>((resolve) => {
      mesh.dispatch(
        { service: 's', method: 'GET', path: '/' },
        {
          onResponseEnd() {
            setImmediate(resolve);
            throw new Error('the caller’s handler failed');
          },
        },
      );
    });
    // Counted out twice, the breaker would let two calls be in flight at maxRequests 1.
    slow.state.holding = true;
    const hanging = mesh.request({ service: 's', path: '/' });
    await eventually(() => slow.held.length === 1);
    expect(await rejection(mesh.request({ service: 's', path: '/' }))).toMatchObject({
      code: 'MESH_OVERFLOW',
    });
    slow.release();
    expect((await hanging).statusCode).toBe(200);
  });

  it('fails the sixth call at once with MESH_OVERFLOW (UO) while five hang, and takes calls again once they end', async () => {
    const slow = await holdingUpstream('slow');
    const mesh = client(
      tableWith(1, [slow.upstream.endpoint('s', 'v1')], { circuitBreaker: { maxRequests: 5 } }),
    );
    const messages = meshMessages((stop) => cleanups.push(stop));
    const hanging = Array.from({ length: 5 }, () => mesh.request({ service: 's', path: '/' }));
    await eventually(() => slow.held.length === 5);
    const started = performance.now();
    const error = await rejection(mesh.request({ service: 's', path: '/' }));
    expect(performance.now() - started).toBeLessThan(100);
    expect(error).toMatchObject({ code: 'MESH_OVERFLOW', responseFlag: 'UO' });
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ destinationService: 's', statusCode: 0, responseFlags: 'UO' });
    expect(slow.upstream.hits).toBe(5);
    slow.release();
    for (const response of await Promise.all(hanging)) expect(response.statusCode).toBe(200);
    const again = await Promise.all(
      Array.from({ length: 5 }, () => mesh.request({ service: 's', path: '/' })),
    );
    expect(again.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
  });

  it('lets maxPendingRequests calls wait for the one connection of an endpoint and fails the next with UO', async () => {
    const slow = await holdingUpstream('slow');
    const mesh = client(
      tableWith(1, [slow.upstream.endpoint('s', 'v1')], {
        circuitBreaker: { maxRequests: 100, maxPendingRequests: 1, maxConnectionsPerEndpoint: 1 },
      }),
    );
    const first = mesh.request({ service: 's', path: '/' });
    await eventually(() => slow.held.length === 1);
    const waiting = mesh.request({ service: 's', path: '/' });
    const error = await rejection(mesh.request({ service: 's', path: '/' }));
    expect(error).toMatchObject({ code: 'MESH_OVERFLOW', responseFlag: 'UO' });
    expect(slow.upstream.hits).toBe(1);
    expect(slow.upstream.sockets.size).toBe(1);
    // The waiting call gets the connection once the first is answered.
    slow.held.shift()!.end('first');
    expect((await first).text()).toBe('first');
    await eventually(() => slow.held.length === 1);
    slow.release();
    expect((await waiting).statusCode).toBe(200);
    expect((await mesh.request({ service: 's', path: '/' })).statusCode).toBe(200);
    expect(slow.upstream.sockets.size).toBe(1);
  });

  it('fails a call once, with MESH_OVERFLOW, when the retry of a refused connection finds the breaker full', async () => {
    const live = await holdingUpstream('live');
    const mesh = client(
      tableWith(1, [await refusing('dead'), live.upstream.endpoint('s', 'v1')], {
        circuitBreaker: { maxPendingRequests: 0, maxConnectionsPerEndpoint: 1 },
      }),
    );
    const messages = meshMessages((stop) => cleanups.push(stop));
    const occupying = mesh.request({ service: 's', path: '/' });
    await eventually(() => live.held.length === 1);
    // The least-request balancer prefers the refusing endpoint, which has nothing in flight; the
    // retry then meets the live one's only connection taken and no room to wait.
    const call = recordingHandler();
    mesh.dispatch({ service: 's', method: 'GET', path: '/' }, call.handler);
    await eventually(() => call.events.length >= 2);
    await sleep(50);
    expect(call.events).toEqual(['start', 'error']);
    expect(call.errors[0]).toMatchObject({ code: 'MESH_OVERFLOW' });
    expect(messages.map((m) => m.responseFlags)).toEqual(['UO']);
    live.release();
    expect((await occupying).statusCode).toBe(200);
  });
});

describe('outlier detection', () => {
  it('ejects an endpoint that answers 500 to everything after five, for baseEjectionMs, reports it, and never ejects the last', async () => {
    const CONCURRENCY = 10;
    const control = await startWatchServer('data-plane-token');
    cleanups.push(() => control.kill());
    const badArrivals: number[] = [];
    const bad = await upstream('bad', (_req, res) => {
      badArrivals.push(Date.now());
      res.writeHead(500).end();
    });
    const good = await Promise.all(['good-1', 'good-2'].map((id) => upstream(id)));
    const resilience: ResilienceOverride = {
      retries: { retryOn: ['connect-failure', 'reset', 'unavailable'] },
      outlierDetection: { consecutiveErrors: 5, baseEjectionMs: 500, maxEjectionPercent: 50 },
    };
    const endpoints = [bad, ...good].map((u) => u.endpoint('s', 'v1'));
    control.publish(tableWith(1, endpoints, resilience));
    const mesh = createMeshClient({
      source: SOURCE,
      log: QUIET,
      controlUrl: control.url,
      token: 'data-plane-token',
      instance: { id: 'caller-v1-1', token: 'instance-token' },
    });
    cleanups.push(() => mesh.close());
    await mesh.ready(2_000);

    const run = async (count: number) => {
      const responses: MeshResponse[] = [];
      let next = 0;
      const worker = async () => {
        while (next++ < count) responses.push(await mesh.request({ service: 's', path: '/' }));
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      return responses;
    };
    const responses = await run(300);
    expect(responses).toHaveLength(300);
    // A 500 is not retried here, so the caller sees each one the bad endpoint gave.
    expect(responses.filter((r) => r.statusCode === 500)).toHaveLength(bad.hits);
    expect(responses.filter((r) => r.statusCode === 500).every((r) => r.endpoint.id === 'bad')).toBe(true);

    // The control plane hears of the ejection soon, with the whole current list.
    const naming = (ejections: number) =>
      control.outlierReports.find((r) =>
        (r.body as { ejected: { endpoint: string; ejections: number }[] }).ejected.some(
          (e) => e.endpoint === 'bad' && e.ejections === ejections,
        ),
      );
    await eventually(() => naming(1) !== undefined, 2_000);
    const first = naming(1)!;
    expect(first.token).toBe('instance-token');
    expect(first.body).toEqual({
      ejected: [{ service: 's', endpoint: 'bad', until: expect.any(String), ejections: 1 }],
    });
    const until = Date.parse((first.body as { ejected: { until: string }[] }).ejected[0]!.until);
    // Five errors in a row, and at most the calls in flight then, reached it before it was out.
    const beforeReturn = badArrivals.filter((at) => at < until).length;
    expect(beforeReturn).toBeGreaterThanOrEqual(5);
    expect(beforeReturn).toBeLessThanOrEqual(5 + CONCURRENCY);
    // Out for baseEjectionMs from its fifth error (answered a moment after it arrived).
    expect(until - badArrivals[4]!).toBeGreaterThanOrEqual(490);
    expect(until - badArrivals[4]!).toBeLessThan(900);

    // Once baseEjectionMs has passed it gets traffic again, fails again, and is out twice as long.
    await sleep(Math.max(0, until - Date.now()) + 20);
    const hitsBefore = bad.hits;
    await run(60);
    expect(bad.hits).toBeGreaterThan(hitsBefore);
    await eventually(() => naming(2) !== undefined, 3_000);

    // With only the bad endpoint left it still serves: a bad answer beats none.
    control.publish(tableWith(2, [bad.endpoint('s', 'v1')], resilience));
    await eventually(() => mesh.table()?.revision === 2);
    const alone = await run(20);
    expect(alone.map((r) => [r.statusCode, r.endpoint.id])).toEqual(
      Array.from({ length: 20 }, () => [500, 'bad']),
    );
  }, 10_000);
});

describe('response flags', () => {
  it('flags URX when retries were used up and the call still failed', async () => {
    const a = await upstream('a', answering(503));
    const b = await upstream('b', answering(503));
    const mesh = client(
      tableWith(1, [a.endpoint('s', 'v1'), b.endpoint('s', 'v1')], {
        retries: { attempts: 2 },
        outlierDetection: { consecutiveErrors: 0 },
      }),
    );
    const messages = meshMessages((stop) => cleanups.push(stop));
    expect((await mesh.request({ service: 's', path: '/' })).statusCode).toBe(503);
    expect(a.hits + b.hits).toBe(3);
    expect(messages).toMatchObject([{ statusCode: 503, retries: 2, responseFlags: 'URX' }]);
  });

  it('flags URX when every endpoint refused the connection, and the error keeps its own UF', async () => {
    const mesh = client(tableWith(1, [await refusing('dead-1'), await refusing('dead-2')]));
    const messages = meshMessages((stop) => cleanups.push(stop));
    const error = await rejection(mesh.request({ service: 's', path: '/' }));
    expect(error).toMatchObject({ code: 'MESH_CONNECT_FAILED', responseFlag: 'UF' });
    expect(messages).toMatchObject([{ statusCode: 0, retries: 1, responseFlags: 'URX' }]);
  });

  it('does not flag URX when the last answer was one the policy does not retry', async () => {
    let hits = 0;
    const a = await upstream('a', (_req, res) => res.writeHead(++hits === 1 ? 503 : 500).end());
    const mesh = client(tableWith(1, [a.endpoint('s', 'v1')]));
    const messages = meshMessages((stop) => cleanups.push(stop));
    expect((await mesh.request({ service: 's', path: '/' })).statusCode).toBe(500);
    expect(messages).toMatchObject([{ statusCode: 500, retries: 1, responseFlags: '-' }]);
  });

  it('flags UO, as Envoy does, when the retry budget refused the retry of a 503', async () => {
    const a = await upstream('a', answering(503));
    const mesh = client(
      tableWith(1, [a.endpoint('s', 'v1')], { retryBudget: { percent: 0, minRetriesPerSecond: 0 } }),
    );
    const messages = meshMessages((stop) => cleanups.push(stop));
    expect((await mesh.request({ service: 's', path: '/' })).statusCode).toBe(503);
    expect(a.hits).toBe(1);
    expect(messages).toMatchObject([{ statusCode: 503, retries: 0, responseFlags: 'UO' }]);
  });
});

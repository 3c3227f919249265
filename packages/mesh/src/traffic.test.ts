import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { type Endpoint, HEADERS, type RoutingTable, type TrafficRule } from '@flotilla/spec';
import type { Dispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createMeshClient } from './client.ts';
import { MeshError } from './errors.ts';
import {
  eventually,
  meshMessages,
  rejection,
  startUpstream,
  type TestUpstream,
  tableOf,
} from './test-support.ts';
import type { CallScope, MeshClient, MeshClientOptions, MeshResponse, MeshSource } from './types.ts';

/**
 * The traffic rules of a table (routes, sourceLabels, pins, mirrors, faults, timeouts) seen
 * through real calls: one upstream server per endpoint on 127.0.0.1, answering its id and what it
 * received. Shares drawn at random are checked against four standard deviations of the binomial.
 */

const SOURCE: MeshSource = { workload: 'caller', version: 'v1' };
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  // Every cleanup runs, so that one client that cannot close leaves no server behind.
  const outcomes: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    outcomes.push(
      await within(5_000, cleanup()).then(
        () => undefined,
        (error: unknown) => error,
      ),
    );
  }
  const failure = outcomes.find((outcome) => outcome !== undefined);
  if (failure !== undefined) throw failure;
});

/** Fails after `ms` rather than hang the suite on a client whose close never settles. */
async function within(ms: number, work: Promise<void> | void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`cleanup did not finish within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** What an upstream received. */
interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Answers once the request body is read; the default answers `{ id, ...received }`. */
type Answer = (req: IncomingMessage, res: ServerResponse, received: Received) => void;

interface RecordingUpstream extends TestUpstream {
  readonly received: Received[];
  /** Requests whose response has not finished or closed yet. */
  readonly open: number;
}

const answerWithEcho =
  (id: string): Answer =>
  (_req, res, received) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ id, ...received }));
  };

async function upstream(id: string, answer: Answer = answerWithEcho(id)): Promise<RecordingUpstream> {
  const received: Received[] = [];
  let open = 0;
  const started = await startUpstream(id, (req, res) => {
    open++;
    res.on('close', () => open--);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const seen = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(seen);
      answer(req, res, seen);
    });
  });
  cleanups.push(() => started.close());
  return Object.assign(started, {
    received,
    get open() {
      return open;
    },
  });
}

/** Upstreams `<service>-<version>` for each version, keyed by version. */
async function versionsOf(service: string, versions: readonly string[]) {
  const entries = await Promise.all(
    versions.map(async (v) => [v, await upstream(`${service}-${v}`)] as const),
  );
  return Object.fromEntries(entries) as Record<string, RecordingUpstream>;
}

interface ServiceInit {
  /** Version weights of the service's split. */
  versions: Record<string, number>;
  endpoints: Endpoint[];
  traffic?: TrafficRule[];
  /** Labels of versions, as the spec gives them. */
  labels?: Record<string, Record<string, string>>;
  timeoutMs?: number;
  maxRequests?: number;
}

/** A table with traffic rules, version labels and timeouts on top of `tableOf`. */
function trafficTable(services: Record<string, ServiceInit>): RoutingTable {
  const table = tableOf(1, services);
  for (const [name, init] of Object.entries(services)) {
    const routes = table.services[name]!;
    routes.traffic = init.traffic ?? [];
    for (const [version, labels] of Object.entries(init.labels ?? {}))
      routes.versions[version]!.labels = labels;
    const { resilience } = routes;
    routes.resilience = {
      ...resilience,
      timeoutMs: init.timeoutMs ?? resilience.timeoutMs,
      circuitBreaker: {
        ...resilience.circuitBreaker,
        maxRequests: init.maxRequests ?? resilience.circuitBreaker.maxRequests,
      },
    };
  }
  return table;
}

function client(options: Omit<MeshClientOptions, 'source'> & { source?: MeshSource }): MeshClient {
  const mesh = createMeshClient({ source: SOURCE, log: { info() {}, warn() {} }, ...options });
  cleanups.push(() => mesh.close());
  return mesh;
}

/** A scope as the runtime keeps one per inbound request, recording what fell back. */
function testScope(fields: Partial<Omit<CallScope, 'fellBack'>> = {}) {
  const fellBack: string[] = [];
  const scope: CallScope = {
    baggage: undefined,
    traceparent: undefined,
    tracestate: undefined,
    pin: undefined,
    deadline: undefined,
    signal: undefined,
    mirrored: false,
    ...fields,
    fellBack(service, version) {
      fellBack.push(`${service}=${version}`);
    },
  };
  return { scope, fellBack };
}

/** Runs `count` calls, 50 at a time, and returns their results in the order they finished. */
async function callMany<T>(count: number, call: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) results.push(await call(next++));
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  return results;
}

/** The id of the endpoint that answered each of `count` GETs of `path`. */
async function idsOf(mesh: MeshClient, service: string, count: number, headers?: Record<string, string>) {
  return callMany(count, async () => {
    const response = await mesh.request({ service, path: '/', headers });
    expect(response.statusCode).toBe(200);
    return response.endpoint.id;
  });
}

function countOf<T>(items: readonly T[], item: T): number {
  return items.filter((x) => x === item).length;
}

/** `count` of `n` draws that hit with probability `p` lies within four standard deviations of n·p. */
function expectBinomial(count: number, n: number, p: number): void {
  const mean = n * p;
  const bound = 4 * Math.sqrt(n * p * (1 - p));
  expect(count).toBeGreaterThanOrEqual(mean - bound);
  expect(count).toBeLessThanOrEqual(mean + bound);
}

/** Waits until `target` has received nothing new for 100 ms and answers nothing more. */
async function quiet(target: RecordingUpstream): Promise<void> {
  let seen = -1;
  await eventually(() => {
    const settled = seen === target.received.length && target.open === 0;
    seen = target.received.length;
    return settled;
  });
}

/** The members of a baggage header, as `key=value` strings without spaces. */
function membersOf(baggage: string | string[] | undefined): string[] {
  return String(baggage)
    .split(',')
    .map((member) => member.trim());
}

describe('weights', () => {
  it('splits the calls a rule routes 80/20 between v1 and v2 within four standard deviations over 2000 calls', async () => {
    const b = await versionsOf('b', ['v1', 'v2']);
    const mesh = client({
      table: trafficTable({
        b: {
          versions: { v1: 0, v2: 100 },
          endpoints: [b.v1!.endpoint('b', 'v1'), b.v2!.endpoint('b', 'v2')],
          traffic: [
            {
              route: [
                { subset: 'v1', weight: 80 },
                { subset: 'v2', weight: 20 },
              ],
            },
          ],
        },
      }),
    });
    const ids = await idsOf(mesh, 'b', 2000);
    expectBinomial(countOf(ids, 'b-v2'), 2000, 0.2);
    expect(countOf(ids, 'b-v1') + countOf(ids, 'b-v2')).toBe(2000);
  });

  it('splits calls no rule matches by the service weights, 70/30 over 2000 calls', async () => {
    const b = await versionsOf('b', ['v1', 'v2', 'v3']);
    const mesh = client({
      table: trafficTable({
        b: {
          versions: { v1: 70, v2: 30, v3: 0 },
          endpoints: [b.v1!.endpoint('b', 'v1'), b.v2!.endpoint('b', 'v2'), b.v3!.endpoint('b', 'v3')],
          traffic: [
            { match: { headers: { 'x-test': { exact: 'yes' } } }, route: [{ subset: 'v3', weight: 100 }] },
          ],
        },
      }),
    });
    const ids = await idsOf(mesh, 'b', 2000);
    expect(countOf(ids, 'b-v3')).toBe(0);
    expectBinomial(countOf(ids, 'b-v2'), 2000, 0.3);
  });
});

describe('sourceLabels', () => {
  it('keeps the calls of a v1 caller on v1 and of a v2 caller on v2: 2000 calls from each, never mixed', async () => {
    const b = await versionsOf('b', ['v1', 'v2']);
    const table = trafficTable({
      a: { versions: { v1: 50, v2: 50 }, endpoints: [] },
      b: {
        versions: { v1: 50, v2: 50 },
        endpoints: [b.v1!.endpoint('b', 'v1'), b.v2!.endpoint('b', 'v2')],
        traffic: [
          { match: { sourceLabels: { app: 'a', version: 'v1' } }, route: [{ subset: 'v1', weight: 100 }] },
          { match: { sourceLabels: { app: 'a', version: 'v2' } }, route: [{ subset: 'v2', weight: 100 }] },
        ],
      },
    });
    const fromV1 = client({ source: { workload: 'a', version: 'v1' }, table });
    const fromV2 = client({ source: { workload: 'a', version: 'v2' }, table });
    const [ids1, ids2] = await Promise.all([idsOf(fromV1, 'b', 2000), idsOf(fromV2, 'b', 2000)]);
    expect(countOf(ids1, 'b-v1')).toBe(2000);
    expect(countOf(ids2, 'b-v2')).toBe(2000);
  });

  it('matches a sourceLabels rule on a label the table gives the calling version (track: canary)', async () => {
    const b = await versionsOf('b', ['v1', 'v2']);
    const table = trafficTable({
      a: { versions: { v1: 90, v2: 10 }, endpoints: [], labels: { v2: { track: 'canary' } } },
      b: {
        versions: { v1: 100, v2: 0 },
        endpoints: [b.v1!.endpoint('b', 'v1'), b.v2!.endpoint('b', 'v2')],
        traffic: [{ match: { sourceLabels: { track: 'canary' } }, route: [{ subset: 'v2', weight: 100 }] }],
      },
    });
    const canary = client({ source: { workload: 'a', version: 'v2' }, table });
    const stable = client({ source: { workload: 'a', version: 'v1' }, table });
    expect(new Set(await idsOf(canary, 'b', 50))).toEqual(new Set(['b-v2']));
    expect(new Set(await idsOf(stable, 'b', 50))).toEqual(new Set(['b-v1']));
  });
});

describe('rule matching', () => {
  it('applies the first rule that matches, and sends a request no rule matches by the service weights', async () => {
    const b = await versionsOf('b', ['v1', 'v2', 'v3']);
    const mesh = client({
      table: trafficTable({
        b: {
          versions: { v1: 100, v2: 0, v3: 0 },
          endpoints: [b.v1!.endpoint('b', 'v1'), b.v2!.endpoint('b', 'v2'), b.v3!.endpoint('b', 'v3')],
          traffic: [
            { match: { headers: { 'x-user': { exact: 'alice' } } }, route: [{ subset: 'v2', weight: 100 }] },
            { match: { headers: { 'x-user': { prefix: 'al' } } }, route: [{ subset: 'v3', weight: 100 }] },
          ],
        },
      }),
    });
    const as = (user: string) => idsOf(mesh, 'b', 20, { 'x-user': user }).then((ids) => new Set(ids));
    expect(await as('alice')).toEqual(new Set(['b-v2']));
    expect(await as('albert')).toEqual(new Set(['b-v3']));
    expect(await as('bob')).toEqual(new Set(['b-v1']));
  });

  it('matches headers exactly, by prefix and by a regex anchored at both ends, whatever the case of the name', async () => {
    const b = await versionsOf('b', ['v1', 'v2', 'v3', 'v4']);
    const mesh = client({
      table: trafficTable({
        b: {
          versions: { v1: 100, v2: 0, v3: 0, v4: 0 },
          endpoints: ['v1', 'v2', 'v3', 'v4'].map((v) => b[v]!.endpoint('b', v)),
          traffic: [
            { match: { headers: { 'x-tier': { exact: 'gold' } } }, route: [{ subset: 'v2', weight: 100 }] },
            {
              match: { headers: { 'x-tier': { prefix: 'silver-' } } },
              route: [{ subset: 'v3', weight: 100 }],
            },
            {
              match: { headers: { 'x-tier': { regex: 'b[a-z]+e|iron' } } },
              route: [{ subset: 'v4', weight: 100 }],
            },
          ],
        },
      }),
    });
    const cases: [Record<string, string>, string][] = [
      [{ 'x-tier': 'gold' }, 'b-v2'],
      [{ 'X-Tier': 'gold' }, 'b-v2'],
      [{ 'x-tier': 'golden' }, 'b-v1'],
      [{ 'x-tier': 'silver-2' }, 'b-v3'],
      [{ 'x-tier': 'silver' }, 'b-v1'],
      [{ 'x-tier': 'bronze' }, 'b-v4'],
      [{ 'x-tier': 'iron' }, 'b-v4'],
      [{ 'x-tier': 'ironclad' }, 'b-v1'],
      [{ 'x-tier': 'a-bronze' }, 'b-v1'],
      [{}, 'b-v1'],
    ];
    for (const [headers, id] of cases) {
      const response = await mesh.request({ service: 'b', path: '/', headers });
      expect({ headers, id: response.endpoint.id }).toEqual({ headers, id });
    }
  });

  it('matches the path without its query and the method, as the rules say', async () => {
    const b = await versionsOf('b', ['v1', 'v2', 'v3']);
    const mesh = client({
      table: trafficTable({
        b: {
          versions: { v1: 100, v2: 0, v3: 0 },
          endpoints: [b.v1!.endpoint('b', 'v1'), b.v2!.endpoint('b', 'v2'), b.v3!.endpoint('b', 'v3')],
          traffic: [
            { match: { path: { prefix: '/admin/' } }, route: [{ subset: 'v2', weight: 100 }] },
            {
              match: { path: { exact: '/orders' }, methods: ['POST', 'PUT'] },
              route: [{ subset: 'v3', weight: 100 }],
            },
          ],
        },
      }),
    });
    const cases: [string, string, string][] = [
      ['GET', '/admin/users?page=2', 'b-v2'],
      ['DELETE', '/admin/users', 'b-v2'],
      ['GET', '/admin', 'b-v1'],
      ['POST', '/orders?dry-run=1', 'b-v3'],
      ['PUT', '/orders', 'b-v3'],
      ['GET', '/orders', 'b-v1'],
      ['POST', '/orders/1', 'b-v1'],
    ];
    for (const [method, path, id] of cases) {
      const response = await mesh.request({
        service: 'b',
        method,
        path,
        body: method === 'GET' ? null : 'x',
      });
      expect({ method, path, id: response.endpoint.id }).toEqual({ method, path, id });
      expect(response.json()).toMatchObject({ method, url: path });
    }
  });
});

describe('version pins', () => {
  async function pinnable(traffic: TrafficRule[] = []) {
    const b = await versionsOf('b', ['v1', 'v2']);
    const table = trafficTable({
      b: {
        versions: { v1: 90, v2: 10, v3: 0 },
        endpoints: [b.v1!.endpoint('b', 'v1'), b.v2!.endpoint('b', 'v2')],
        traffic,
      },
    });
    return { b, table };
  }

  it('sends a request carrying x-flotilla-version: v2 to v2, and carries the pin on as baggage', async () => {
    const { b, table } = await pinnable();
    const mesh = client({ table });
    expect(new Set(await idsOf(mesh, 'b', 50, { [HEADERS.version]: 'v2' }))).toEqual(new Set(['b-v2']));
    expect(b.v2!.received.every((r) => r.headers.baggage === 'flotilla-version=v2')).toBe(true);
  });

  it('sends a call whose scope pins v2 to v2 with flotilla-version=v2 in its baggage, the other members kept', async () => {
    const { b, table } = await pinnable();
    const { scope, fellBack } = testScope({ pin: 'v2', baggage: 'user=alice,tenant=acme;ttl=60' });
    const mesh = client({ table, scope: () => scope });
    expect(new Set(await idsOf(mesh, 'b', 50))).toEqual(new Set(['b-v2']));
    const members = membersOf(b.v2!.received[0]!.headers.baggage);
    expect(members).toEqual(['user=alice', 'tenant=acme;ttl=60', 'flotilla-version=v2']);
    expect(fellBack).toEqual([]);
  });

  it('lets a pin the call itself carries win over the pin of the request it serves', async () => {
    const { b, table } = await pinnable();
    const { scope } = testScope({ pin: 'v2' });
    const mesh = client({ table, scope: () => scope });
    expect(new Set(await idsOf(mesh, 'b', 20, { [HEADERS.version]: 'v1' }))).toEqual(new Set(['b-v1']));
    expect(b.v1!.received[0]!.headers.baggage).toBe('flotilla-version=v1');
  });

  it('sends a call pinned to a version without endpoints to the stable version and reports the fallback', async () => {
    const { b, table } = await pinnable();
    const { scope, fellBack } = testScope({ pin: 'v3' });
    const mesh = client({ table, scope: () => scope });
    expect(new Set(await idsOf(mesh, 'b', 20))).toEqual(new Set(['b-v1']));
    expect(fellBack).toEqual(Array(20).fill('b=v1'));
    // The pin travels on: a later hop may have v3.
    expect(b.v1!.received[0]!.headers.baggage).toBe('flotilla-version=v3');
  });

  it('lets an explicit rule route win over a pin from the scope or from x-flotilla-version', async () => {
    const { table } = await pinnable([{ route: [{ subset: 'v1', weight: 100 }] }]);
    const { scope, fellBack } = testScope({ pin: 'v2' });
    const pinned = client({ table, scope: () => scope });
    expect(new Set(await idsOf(pinned, 'b', 20))).toEqual(new Set(['b-v1']));
    const headed = client({ table });
    expect(new Set(await idsOf(headed, 'b', 20, { [HEADERS.version]: 'v2' }))).toEqual(new Set(['b-v1']));
    expect(fellBack).toEqual([]);
  });

  it('reads the pin of a dispatch whose headers are [name, value] pairs, and sends them on with the propagated ones', async () => {
    const { b, table } = await pinnable();
    const mesh = client({ table });
    const { done, answer } = collect();
    mesh.dispatch(
      {
        service: 'b',
        method: 'GET',
        path: '/',
        headers: new Map([
          [HEADERS.version, 'v2'],
          ['x-user', 'alice'],
        ]),
      },
      answer,
    );
    expect(await done).toMatchObject({ statusCode: 200 });
    const [received] = b.v2!.received;
    expect(received!.headers).toMatchObject({ 'x-user': 'alice', baggage: 'flotilla-version=v2' });
    expect(Number(received!.headers[HEADERS.timeout])).toBeGreaterThan(0);
  });
});

describe('what a call carries downstream', () => {
  async function single() {
    const b = await upstream('b-v1');
    const table = trafficTable({ b: { versions: { v1: 100 }, endpoints: [b.endpoint('b', 'v1')] } });
    return { b, table };
  }

  it('tells the downstream the time left, above 0 and at most the call’s timeoutMs', async () => {
    const { b, table } = await single();
    const mesh = client({ table });
    await mesh.request({ service: 'b', path: '/', timeoutMs: 2_000 });
    const timeLeft = Number(b.received[0]!.headers[HEADERS.timeout]);
    expect(timeLeft).toBeGreaterThan(0);
    expect(timeLeft).toBeLessThanOrEqual(2_000);
  });

  it('tells the downstream at most 300 ms when the scope’s deadline is 300 ms away', async () => {
    const { b, table } = await single();
    const { scope } = testScope({ deadline: performance.now() + 300 });
    const mesh = client({ table, scope: () => scope });
    await mesh.request({ service: 'b', path: '/', timeoutMs: 10_000 });
    const timeLeft = Number(b.received[0]!.headers[HEADERS.timeout]);
    expect(timeLeft).toBeGreaterThan(0);
    expect(timeLeft).toBeLessThanOrEqual(300);
  });

  it('carries traceparent and tracestate from the scope, and keeps a traceparent the caller set itself', async () => {
    const { b, table } = await single();
    const { scope } = testScope({ traceparent: TRACEPARENT, tracestate: 'congo=t61rcWkgMzE' });
    const mesh = client({ table, scope: () => scope });
    await mesh.request({ service: 'b', path: '/' });
    expect(b.received[0]!.headers).toMatchObject({
      traceparent: TRACEPARENT,
      tracestate: 'congo=t61rcWkgMzE',
    });
    const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await mesh.request({ service: 'b', path: '/', headers: { traceparent: own } });
    expect(b.received[1]!.headers.traceparent).toBe(own);
  });

  it('keeps the baggage a caller sets on its own call rather than the scope’s, with the pin set in it', async () => {
    const { b, table } = await single();
    const { scope } = testScope({ baggage: 'user=alice' });
    const mesh = client({ table, scope: () => scope });
    await mesh.request({ service: 'b', path: '/', headers: { baggage: 'user=bob,tenant=acme' } });
    expect(b.received[0]!.headers.baggage).toBe('user=bob,tenant=acme');
    const pinned = testScope({ baggage: 'user=alice', pin: 'v1' });
    const pinnedMesh = client({ table, scope: () => pinned.scope });
    await pinnedMesh.request({ service: 'b', path: '/', headers: { baggage: 'user=bob' } });
    expect(b.received[1]!.headers.baggage).toBe('user=bob,flotilla-version=v1');
  });

  it('fails at once with MESH_TIMEOUT, calling nothing, when the scope’s deadline has passed', async () => {
    const { b, table } = await single();
    const { scope } = testScope({ deadline: performance.now() - 1 });
    const mesh = client({ table, scope: () => scope });
    const startedAt = performance.now();
    const error = await rejection(mesh.request({ service: 'b', path: '/' }));
    expect(performance.now() - startedAt).toBeLessThan(50);
    expect(error).toBeInstanceOf(MeshError);
    expect(error).toMatchObject({ code: 'MESH_TIMEOUT' });
    expect(b.hits).toBe(0);
  });

  it('aborts a call in flight when the scope’s signal aborts, and the upstream sees the request closed', async () => {
    let closedEarly: (value: boolean) => void = () => {};
    const closed = new Promise<boolean>((resolve) => {
      closedEarly = resolve;
    });
    const b = await upstream('b-v1', (_req, res) => {
      res.on('close', () => closedEarly(!res.writableFinished));
    });
    const table = trafficTable({ b: { versions: { v1: 100 }, endpoints: [b.endpoint('b', 'v1')] } });
    const controller = new AbortController();
    const { scope } = testScope({ signal: controller.signal });
    const mesh = client({ table, scope: () => scope });
    const call = rejection(mesh.request({ service: 'b', path: '/' }));
    await eventually(() => b.received.length === 1);
    const reason = new DOMException('The caller went away.', 'AbortError');
    controller.abort(reason);
    expect(await call).toBe(reason);
    expect(await closed).toBe(true);
  });

  it('ends a call as MESH_TIMEOUT (UT) when the scope’s signal fires at the inbound deadline, whichever timer is first', async () => {
    const b = await upstream('b-v1', () => {});
    const table = trafficTable({ b: { versions: { v1: 100 }, endpoints: [b.endpoint('b', 'v1')] } });
    const controller = new AbortController();
    const deadline = performance.now() + 200;
    const { scope } = testScope({ deadline, signal: controller.signal });
    const mesh = client({ table, scope: () => scope });
    const call = rejection(mesh.request({ service: 'b', path: '/' }));
    // As the runtime does: its own timer for the same deadline, here a little early.
    setTimeout(
      () => controller.abort(new DOMException("The caller's deadline passed.", 'TimeoutError')),
      199,
    );
    expect(await call).toMatchObject({ code: 'MESH_TIMEOUT', responseFlag: 'UT' });
  });

  it('relays x-flotilla-version-fallback: c=v1 of a downstream answer to scope.fellBack', async () => {
    const b = await upstream('b-v1', (_req, res) => {
      res.setHeader(HEADERS.versionFallback, 'c=v1');
      res.end('{}');
    });
    const table = trafficTable({ b: { versions: { v1: 100 }, endpoints: [b.endpoint('b', 'v1')] } });
    const { scope, fellBack } = testScope({ pin: 'v2' });
    const mesh = client({ table, scope: () => scope });
    await mesh.request({ service: 'b', path: '/' });
    // b=v1 from this hop's own fallback (b has no v2), c=v1 from the hop behind it.
    expect(fellBack.sort()).toEqual(['b=v1', 'c=v1']);
  });
});

describe('mirroring', () => {
  async function mirrored(percent: number, v2Answer?: Answer, maxRequests?: number) {
    const body = Buffer.from([0, 1, 2, 250, 251, 252, 10, 13, 0x7b]);
    const v1 = await upstream('b-v1', (_req, res) => {
      res.setHeader('content-type', 'application/octet-stream');
      res.end(body);
    });
    const v2 = await upstream('b-v2', v2Answer);
    const table = trafficTable({
      b: {
        versions: { v1: 100, v2: 0 },
        endpoints: [v1.endpoint('b', 'v1'), v2.endpoint('b', 'v2')],
        traffic: [{ route: [{ subset: 'v1', weight: 100 }], mirror: { subset: 'v2', percent } }],
        maxRequests,
      },
    });
    return { body, v1, v2, mesh: client({ table }) };
  }

  it('answers with v1’s response byte for byte while v2 receives a copy of every call', async () => {
    const { body, v1, v2, mesh } = await mirrored(100);
    for (let i = 0; i < 20; i++) {
      const response = await mesh.request({
        service: 'b',
        method: 'POST',
        path: `/orders?i=${i}`,
        body: `order ${i}`,
      });
      expect(response.statusCode).toBe(200);
      expect(response.endpoint.version).toBe('v1');
      expect(response.body.equals(body)).toBe(true);
    }
    await eventually(() => v2.received.length === 20);
    const copies = v2.received.map(({ method, url, body }) => ({ method, url, body }));
    expect(copies.sort((x, y) => x.body.localeCompare(y.body))).toEqual(
      v1.received
        .map(({ method, url, body }) => ({ method, url, body }))
        .sort((x, y) => x.body.localeCompare(y.body)),
    );
    expect(copies).toContainEqual({ method: 'POST', url: '/orders?i=7', body: 'order 7' });
    // Copies say what they are, so that a service can skip their side effects; originals do not.
    expect(v2.received.every((r) => r.headers['x-flotilla-mirror'] === '1')).toBe(true);
    expect(v1.received.some((r) => r.headers['x-flotilla-mirror'] !== undefined)).toBe(false);
  });

  it('marks the calls a mirrored copy makes as copies, so no later hop takes them for real', async () => {
    const b = await upstream('b-v1');
    const table = trafficTable({ b: { versions: { v1: 100 }, endpoints: [b.endpoint('b', 'v1')] } });
    const { scope } = testScope({ mirrored: true });
    const mesh = client({ table, scope: () => scope });
    await mesh.request({ service: 'b', method: 'POST', path: '/charges', body: 'x' });
    expect(b.received[0]!.headers['x-flotilla-mirror']).toBe('1');
  });

  it('keeps the caller’s answer and latency when the mirror answers 500 after a second', async () => {
    const { body, v2, mesh } = await mirrored(100, (_req, res) => {
      setTimeout(() => res.writeHead(500).end('mirror failed'), 1_000);
    });
    const startedAt = performance.now();
    for (let i = 0; i < 10; i++) {
      const response = await mesh.request({ service: 'b', path: '/' });
      expect(response.statusCode).toBe(200);
      expect(response.body.equals(body)).toBe(true);
    }
    // Ten calls in a row finished before the first mirrored copy was answered.
    expect(performance.now() - startedAt).toBeLessThan(1_000);
    await eventually(() => v2.received.length === 10);
  });

  it('keeps the caller’s answer when the mirror resets the connection', async () => {
    const { body, v2, mesh } = await mirrored(100, (req) => req.socket.destroy());
    for (let i = 0; i < 20; i++) {
      const response = await mesh.request({ service: 'b', path: '/' });
      expect(response.statusCode).toBe(200);
      expect(response.body.equals(body)).toBe(true);
    }
    await eventually(() => v2.received.length === 20);
  });

  it('mirrors a share of calls within four standard deviations of percent: 30 over 1000 calls', async () => {
    const { v1, v2, mesh } = await mirrored(30);
    await callMany(1000, () => mesh.request({ service: 'b', path: '/' }));
    await quiet(v2);
    expect(v1.received).toHaveLength(1000);
    expectBinomial(v2.received.length, 1000, 0.3);
  });

  it('never lets mirrored copies use up the circuit breaker: 1000 calls, 50 at a time, under maxRequests 200 all answer', async () => {
    const { v2, mesh } = await mirrored(100, undefined, 200);
    const outcomes = await callMany(1000, (i) =>
      mesh.request({ service: 'b', path: `/${i}` }).then(
        (response) => String(response.statusCode),
        (error: MeshError) => error.code,
      ),
    );
    expect(new Set(outcomes)).toEqual(new Set(['200']));
    await eventually(() => v2.received.length === 1000);
  });

  it('does not mirror a call whose body is a stream: it cannot be sent twice', async () => {
    const { v1, v2, mesh } = await mirrored(100);
    const { done, answer } = collect();
    mesh.dispatch(
      {
        service: 'b',
        method: 'POST',
        path: '/upload',
        body: Readable.from([Buffer.from('part 1, '), Buffer.from('part 2')]),
      },
      answer,
    );
    expect(await done).toMatchObject({ statusCode: 200 });
    expect(v1.received[0]!.body).toBe('part 1, part 2');
    await quiet(v2);
    expect(v2.received).toHaveLength(0);
  });
});

describe('fault injection', () => {
  it('answers 503 FAULT_INJECTED to a share of calls within bounds of percent: 25 over 2000, and calls the upstream for exactly the others', async () => {
    const b = await upstream('b-v1');
    const mesh = client({
      table: trafficTable({
        b: {
          versions: { v1: 100 },
          endpoints: [b.endpoint('b', 'v1')],
          traffic: [{ fault: { abort: { httpStatus: 503, percent: 25 } } }],
        },
      }),
    });
    const responses = await callMany(2000, () => mesh.request({ service: 'b', path: '/' }));
    const aborted = responses.filter((r) => r.statusCode === 503);
    expectBinomial(aborted.length, 2000, 0.25);
    for (const response of aborted) {
      expect(response.json()).toMatchObject({ error: { code: 'FAULT_INJECTED' } });
      // No endpoint answered: the response says so rather than leave the field undefined.
      expect(response.endpoint).toEqual({ id: 'unknown', version: 'unknown' });
    }
    expect(responses.filter((r) => r.statusCode === 200)).toHaveLength(2000 - aborted.length);
    expect(b.hits).toBe(2000 - aborted.length);
  });

  it('aborts every request a rule at 100% matches (x-test: yes) and never one it does not', async () => {
    const b = await upstream('b-v1');
    const mesh = client({
      table: trafficTable({
        b: {
          versions: { v1: 100 },
          endpoints: [b.endpoint('b', 'v1')],
          traffic: [
            {
              match: { headers: { 'x-test': { exact: 'yes' } } },
              fault: { abort: { httpStatus: 503, percent: 100 } },
            },
          ],
        },
      }),
    });
    const statusOf = (headers: Record<string, string>) =>
      callMany(100, () => mesh.request({ service: 'b', path: '/', headers })).then(
        (responses) => new Set(responses.map((r: MeshResponse) => r.statusCode)),
      );
    expect(await statusOf({ 'x-test': 'yes' })).toEqual(new Set([503]));
    expect(b.hits).toBe(0);
    expect(await statusOf({ 'x-test': 'no' })).toEqual(new Set([200]));
    expect(await statusOf({})).toEqual(new Set([200]));
    expect(b.hits).toBe(200);
  });

  it('holds a call at least fixedDelayMs (200 ms) before sending it', async () => {
    const b = await upstream('b-v1');
    const mesh = client({
      table: trafficTable({
        b: {
          versions: { v1: 100 },
          endpoints: [b.endpoint('b', 'v1')],
          traffic: [{ fault: { delay: { fixedDelayMs: 200, percent: 100 } } }],
        },
      }),
    });
    const startedAt = performance.now();
    const response = await mesh.request({ service: 'b', path: '/' });
    expect(response.statusCode).toBe(200);
    // Node's timers run on a millisecond clock and may fire a fraction of one early.
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(199);
  });

  it('publishes responseFlags FI for an injected abort and DI for an injected delay', async () => {
    const messages = meshMessages((stop) => cleanups.push(stop));
    const b = await upstream('b-v1');
    const mesh = client({
      table: trafficTable({
        b: {
          versions: { v1: 100 },
          endpoints: [b.endpoint('b', 'v1')],
          traffic: [
            { match: { path: { exact: '/abort' } }, fault: { abort: { httpStatus: 503, percent: 100 } } },
            { match: { path: { exact: '/delay' } }, fault: { delay: { fixedDelayMs: 20, percent: 100 } } },
          ],
        },
      }),
    });
    await mesh.request({ service: 'b', path: '/abort' });
    await mesh.request({ service: 'b', path: '/delay' });
    await mesh.request({ service: 'b', path: '/plain' });
    const flags = messages
      .filter((m) => m.destinationService === 'b')
      .map((m) => ({ statusCode: m.statusCode, responseFlags: m.responseFlags }));
    expect(flags).toEqual([
      { statusCode: 503, responseFlags: 'FI' },
      { statusCode: 200, responseFlags: 'DI' },
      { statusCode: 200, responseFlags: '-' },
    ]);
  });
});

describe('rule timeouts', () => {
  it('gives a call that matches a rule with timeoutMs the rule’s deadline instead of the service’s', async () => {
    const b = await upstream('b-v1', (req, res) => {
      const delayMs = req.url === '/slow' || req.url === '/quick/slow' ? 400 : 0;
      setTimeout(() => res.end(JSON.stringify({ timeLeft: req.headers[HEADERS.timeout] })), delayMs);
    });
    const mesh = client({
      table: trafficTable({
        b: {
          versions: { v1: 100 },
          endpoints: [b.endpoint('b', 'v1')],
          timeoutMs: 5_000,
          traffic: [{ match: { path: { prefix: '/quick/' } }, timeoutMs: 150 }],
        },
      }),
    });
    const timeLeft = async (path: string) =>
      Number((await mesh.request({ service: 'b', path })).json<{ timeLeft: string }>().timeLeft);
    expect(await timeLeft('/quick/echo')).toBeLessThanOrEqual(150);
    expect(await timeLeft('/echo')).toBeGreaterThan(150);
    const startedAt = performance.now();
    const error = await rejection(mesh.request({ service: 'b', path: '/quick/slow' }));
    expect(error).toMatchObject({ code: 'MESH_TIMEOUT' });
    expect(performance.now() - startedAt).toBeLessThan(350);
    expect((await mesh.request({ service: 'b', path: '/slow' })).statusCode).toBe(200);
  });

  it('lets maxTimeoutMs (the gateway’s route timeout) bound the rule’s deadline but not extend it', async () => {
    const b = await upstream('b-v1', (req, res) =>
      res.end(JSON.stringify({ timeLeft: req.headers[HEADERS.timeout] })),
    );
    const mesh = client({
      table: trafficTable({
        b: {
          versions: { v1: 100 },
          endpoints: [b.endpoint('b', 'v1')],
          traffic: [{ match: { path: { prefix: '/quick/' } }, timeoutMs: 150 }],
        },
      }),
    });
    const timeLeft = async (path: string, maxTimeoutMs: number) => {
      const { done, answer } = collect();
      mesh.dispatch({ service: 'b', method: 'GET', path, maxTimeoutMs }, answer);
      const result = await done;
      if (result instanceof Error) throw result;
      return Number((JSON.parse(result.body) as { timeLeft: string }).timeLeft);
    };
    expect(await timeLeft('/quick/echo', 10_000)).toBeLessThanOrEqual(150);
    expect(await timeLeft('/echo', 400)).toBeLessThanOrEqual(400);
    expect(await timeLeft('/echo', 400)).toBeGreaterThan(150);
  });
});

/** A dispatch handler that settles with the status and body of the answer. */
function collect() {
  let settle: (value: { statusCode: number; body: string } | Error) => void = () => {};
  const done = new Promise<{ statusCode: number; body: string } | Error>((resolve) => {
    settle = resolve;
  });
  let statusCode = 0;
  const chunks: Buffer[] = [];
  const answer: Dispatcher.DispatchHandler = {
    onResponseStart(_c, status) {
      statusCode = status;
    },
    onResponseData(_c, chunk) {
      chunks.push(chunk);
    },
    onResponseEnd() {
      settle({ statusCode, body: Buffer.concat(chunks).toString() });
    },
    onResponseError(_c, error) {
      settle(error);
    },
  };
  return { done, answer };
}

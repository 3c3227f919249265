import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSpec } from '@flotilla/spec';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MailStore, type ParsedMessage, startMail } from '../mail/index.ts';
import { Registry } from '../registry/index.ts';
import type {
  DeadLetterEntry,
  LogLine,
  MailList,
  MailMessage,
  ServiceStatus,
  SystemStatus,
} from '../types.ts';
import { WatchStream } from '../watch/index.ts';
import {
  type ApiBackend,
  ApiListenError,
  type ApiServer,
  type DeadLetterSource,
  type LogFilter,
  type MailSource,
  startApiServer,
} from './index.ts';

const ADMIN = 'admin-token-0123456789';
const DATA_PLANE = 'data-plane-token-abcdef';
const log = pino({ level: 'silent' });
const limits = {
  bodyBytes: 16 * 1024,
  maxReplicas: 64,
  defaultTail: 200,
  maxTail: 10_000,
  followBufferBytes: 1 << 20,
  defaultMailLimit: 50,
  maxMailLimit: 1000,
  defaultDeadLetterLimit: 100,
  maxDeadLetterLimit: 1000,
};

const spec = parseSpec(
  'name: api-test\nservices:\n  orders:\n    path: orders\n    versions: { v1: {}, v2: {} }\n',
  { dir: '/srv/api-test' },
);

function serviceStatus(name: string, kind: 'service' | 'gateway', versions: string[]): ServiceStatus {
  return {
    name,
    kind,
    versions: versions.map((v) => ({ name: v, weight: 100 / versions.length, replicas: 1 })),
    instances: [],
  };
}

const status: SystemStatus = {
  system: 'api-test',
  specFile: '/srv/api-test/flotilla.yaml',
  startedAt: '2026-01-01T00:00:00.000Z',
  revision: 1,
  controlPlane: { url: 'http://127.0.0.1:7070', pid: process.pid },
  gateway: { url: 'http://127.0.0.1:8080' },
  postgres: { mode: 'none', host: null, port: null },
  mail: { mode: 'sink', address: '127.0.0.1:2525' },
  bus: { kind: 'postgres', address: '127.0.0.1:5432' },
  services: [serviceStatus('orders', 'service', ['v1', 'v2']), serviceStatus('gateway', 'gateway', ['v1'])],
};

/** The log store's contract over an array, so tests can add lines at will. */
class Lines {
  readonly lines: LogLine[] = [];
  readonly listeners = new Set<{ filter: LogFilter; listener: (l: LogLine) => void }>();
  tail(filter: LogFilter, n: number) {
    return n === 0 ? [] : this.lines.filter((l) => matches(l, filter)).slice(-n);
  }
  subscribe(filter: LogFilter, listener: (l: LogLine) => void) {
    const entry = { filter, listener };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }
  add(instance: string, line: string) {
    const [service, version] = instance.split('-') as [string, string];
    const entry: LogLine = {
      instance,
      service,
      version,
      stream: 'stdout',
      at: new Date().toISOString(),
      line,
    };
    this.lines.push(entry);
    for (const l of this.listeners) if (matches(entry, l.filter)) l.listener(entry);
  }
}

/**
 * The dead-letter source's contract over an array, recording what the API asked of it: the real
 * one, over service databases, is tested in bus/index.test.ts.
 */
class Letters implements DeadLetterSource {
  services: readonly string[] = ['notifications', 'orders'];
  readonly entries: DeadLetterEntry[] = [];
  readonly calls: unknown[][] = [];
  async list(service: string | undefined, limit: number) {
    this.calls.push(['list', service, limit]);
    return this.entries.filter((e) => service === undefined || e.service === service).slice(0, limit);
  }
  async replay(service: string, ids: readonly string[] | 'all') {
    this.calls.push(['replay', service, ids]);
    const chosen = this.entries.filter((e) => e.service === service && (ids === 'all' || ids.includes(e.id)));
    return chosen.map((e) => e.id);
  }
}

function matches(line: LogLine, filter: LogFilter) {
  return (
    (!filter.workload || line.service === filter.workload) &&
    (!filter.instance || line.instance === filter.instance)
  );
}

let api: ApiServer;
let watch: WatchStream;
let logs: Lines;
let scaled: [string, number, string | undefined][];
let shutdowns: number;
let failStatus: boolean;
let mailDir: string;
let store: MailStore;
let mail: MailSource;
let letters: Letters | undefined;

beforeEach(async () => {
  mailDir = await mkdtemp(join(tmpdir(), 'flotilla-api-mail-'));
  store = await MailStore.open({ dir: mailDir, maxMessages: 1000 });
  mail = {
    mode: 'sink',
    address: '127.0.0.1:2525',
    list: (query) => store.list(query),
    get: (id) => store.get(id),
  };
  logs = new Lines();
  letters = new Letters();
  scaled = [];
  shutdowns = 0;
  failStatus = false;
  const registry = new Registry(spec, 3);
  watch = new WatchStream({ source: registry, heartbeatMs: 15_000, log });
  const backend: ApiBackend = {
    status: () => {
      if (failStatus) throw new Error('secret internals at /srv/x.ts:12');
      return status;
    },
    table: () => registry.table(),
    async scale(service, replicas, version) {
      scaled.push([service, replicas, version]);
      return status.services.find((s) => s.name === service)!;
    },
    logs,
    get mail() {
      return mail;
    },
    deadLetters: () => letters,
    shutdown: () => {
      shutdowns += 1;
    },
    // The mesh identity's routes are tested over the real one in instance-routes.test.ts.
    certificate: () => Promise.reject(new Error('not used here')),
    reportOutliers: () => {},
    rotateCa: () => Promise.reject(new Error('not used here')),
  };
  api = await startApiServer({
    host: '127.0.0.1',
    port: 0,
    adminToken: ADMIN,
    dataPlaneToken: DATA_PLANE,
    backend,
    watch,
    limits,
    closeGraceMs: 1_000,
    log,
  });
});

afterEach(async () => {
  watch.close();
  await api.close();
  await rm(mailDir, { recursive: true, force: true });
});

function call(path: string, init: { token?: string; method?: string; body?: string } = {}) {
  const headers: Record<string, string> = {};
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${api.url}${path}`, { method: init.method ?? 'GET', headers, body: init.body });
}

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message).not.toMatch(/\bat \/|\.ts:\d/);
  return body.error.message;
}

describe('authorization', () => {
  it.each([
    ['no token', undefined],
    ['a wrong token', 'nope'],
    ['a token that only starts like the admin token', `${ADMIN}x`],
  ])('answers 401 with %s', async (_, token) => {
    const response = await call('/v1/status', { token });
    expect(response.headers.get('www-authenticate')).toContain('Bearer');
    await expectError(response, 401, 'UNAUTHORIZED');
  });

  it('answers 401 before revealing whether a path exists', async () => {
    await expectError(await call('/v1/nothing-here'), 401, 'UNAUTHORIZED');
  });

  it('lets the data-plane token read the table and the watch stream', async () => {
    const table = await call('/v1/table', { token: DATA_PLANE });
    expect(table.status).toBe(200);
    expect(((await table.json()) as { revision: number }).revision).toBe(3);
    const controller = new AbortController();
    const stream = await fetch(`${api.url}/v1/watch`, {
      headers: { authorization: `Bearer ${DATA_PLANE}` },
      signal: controller.signal,
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    const reader = stream.body!.getReader();
    const { value } = await reader.read();
    expect(Buffer.from(value!).toString()).toMatch(/^event: table\nid: 3\n/);
    controller.abort();
  });

  it.each([
    ['GET', '/v1/status', undefined],
    ['POST', '/v1/services/orders/scale', '{"replicas":2}'],
    ['GET', '/v1/services/orders/logs', undefined],
    ['POST', '/v1/shutdown', undefined],
    ['GET', '/v1/mail', undefined],
    ['GET', '/v1/mail/0123456789ab', undefined],
    ['GET', '/v1/dead-letters', undefined],
    ['POST', '/v1/dead-letters/replay', '{"service":"orders","all":true}'],
  ])('refuses the data-plane token for %s %s', async (method, path, body) => {
    await expectError(await call(path, { token: DATA_PLANE, method, body }), 403, 'FORBIDDEN');
    expect(scaled).toEqual([]);
    expect(letters?.calls).toEqual([]);
    expect(shutdowns).toBe(0);
  });
});

describe('endpoints', () => {
  it('returns the system status', async () => {
    const response = await call('/v1/status', { token: ADMIN });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(status);
  });

  it('answers 404 in JSON for an unknown path and 405 with Allow for a wrong method', async () => {
    expect(await expectError(await call('/v1/nothing', { token: ADMIN }), 404, 'NOT_FOUND')).toContain(
      '/v1/nothing',
    );
    const wrong = await call('/v1/status', { token: ADMIN, method: 'DELETE' });
    expect(wrong.headers.get('allow')).toBe('GET');
    await expectError(wrong, 405, 'METHOD_NOT_ALLOWED');
  });

  it('answers 500 without internals when the control plane fails', async () => {
    failStatus = true;
    const message = await expectError(await call('/v1/status', { token: ADMIN }), 500, 'INTERNAL');
    expect(message).not.toContain('secret internals');
  });

  it('acknowledges a shutdown with 202 and then starts it', async () => {
    const response = await call('/v1/shutdown', { token: ADMIN, method: 'POST' });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ status: 'stopping' });
    const deadline = Date.now() + 2_000;
    while (shutdowns === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(shutdowns).toBe(1);
  });
});

describe('scale', () => {
  const scale = (service: string, body: string) =>
    call(`/v1/services/${service}/scale`, { token: ADMIN, method: 'POST', body });

  it('scales a version and answers with the service', async () => {
    const response = await scale('orders', '{"replicas": 3, "version": "v2"}');
    expect(response.status).toBe(200);
    expect(((await response.json()) as ServiceStatus).name).toBe('orders');
    expect(scaled).toEqual([['orders', 3, 'v2']]);
  });

  it('scales every version when none is named', async () => {
    expect((await scale('orders', '{"replicas": 0}')).status).toBe(200);
    expect(scaled).toEqual([['orders', 0, undefined]]);
  });

  it.each([
    ['invalid JSON', '{"replicas": ', 'not valid JSON'],
    ['an empty body', '', 'Expected a JSON body'],
    ['an array', '[2]', 'JSON object'],
    ['negative replicas', '{"replicas": -1}', 'from 0 to 64'],
    ['fractional replicas', '{"replicas": 1.5}', 'from 0 to 64'],
    ['replicas as a string', '{"replicas": "2"}', 'from 0 to 64'],
    ['too many replicas', '{"replicas": 65}', 'from 0 to 64'],
    ['a misspelt field', '{"replica": 2}', 'Unknown field "replica"'],
    ['a version that is not a string', '{"replicas": 2, "version": 2}', '"version" must be a string'],
  ])('answers 400 for %s', async (_, body, message) => {
    expect(await expectError(await scale('orders', body), 400, 'BAD_REQUEST')).toContain(message);
    expect(scaled).toEqual([]);
  });

  it('answers 400 for a gateway without replicas', async () => {
    expect(await expectError(await scale('gateway', '{"replicas": 0}'), 400, 'BAD_REQUEST')).toContain(
      'from 1 to 64',
    );
  });

  it('answers 404 naming the services for an unknown service', async () => {
    const message = await expectError(await scale('billing', '{"replicas": 1}'), 404, 'NOT_FOUND');
    expect(message).toBe('Unknown service "billing" (services: orders, gateway).');
  });

  it('answers 404 naming the versions for an unknown version', async () => {
    const message = await expectError(
      await scale('orders', '{"replicas": 1, "version": "v9"}'),
      404,
      'NOT_FOUND',
    );
    expect(message).toBe('Service "orders" has no version "v9" (versions: v1, v2).');
  });

  it('answers 413 for a body over 16 KiB, declared or not', async () => {
    const big = JSON.stringify({ replicas: 1, pad: 'x'.repeat(17 * 1024) });
    await expectError(await scale('orders', big), 413, 'BODY_TOO_LARGE');
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${api.url}/v1/services/orders/scale`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'transfer-encoding': 'chunked' },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write('x'.repeat(1024));
      req.end();
    });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).error.code).toBe('BODY_TOO_LARGE');
    expect(scaled).toEqual([]);
  });
});

describe('logs', () => {
  const readLines = async (response: Response) =>
    (await response.text())
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogLine);

  it('returns the last lines of a service as NDJSON, 200 by default', async () => {
    for (let i = 0; i < 250; i++) logs.add(`orders-v1-${(i % 2) + 1}`, `line ${i}`);
    logs.add('gateway-v1-1', 'not orders');
    const response = await call('/v1/services/orders/logs', { token: ADMIN });
    expect(response.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = await readLines(response);
    expect(lines).toHaveLength(200);
    expect(lines.at(-1)?.line).toBe('line 249');
    const one = await readLines(
      await call('/v1/services/orders/logs?instance=orders-v1-2&tail=2', { token: ADMIN }),
    );
    expect(one.map((l) => l.line)).toEqual(['line 247', 'line 249']);
  });

  it('keeps streaming new lines with follow until the client leaves', async () => {
    logs.add('orders-v1-1', 'before');
    const controller = new AbortController();
    const response = await fetch(`${api.url}/v1/services/orders/logs?tail=1&follow=1`, {
      headers: { authorization: `Bearer ${ADMIN}` },
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    let text = '';
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += Buffer.from(value).toString();
      }
    };
    await readUntil('before');
    logs.add('orders-v1-1', 'after');
    await readUntil('after');
    expect(logs.listeners.size).toBe(1);
    controller.abort();
    const deadline = Date.now() + 2_000;
    while (logs.listeners.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(logs.listeners.size).toBe(0);
  });

  it('answers 400 for a bad tail and 404 for an unknown service', async () => {
    await expectError(await call('/v1/services/orders/logs?tail=-3', { token: ADMIN }), 400, 'BAD_REQUEST');
    await expectError(await call('/v1/services/orders/logs?tail=ten', { token: ADMIN }), 400, 'BAD_REQUEST');
    await expectError(await call('/v1/services/billing/logs', { token: ADMIN }), 404, 'NOT_FOUND');
  });
});

describe('mail', () => {
  /** Stores a message straight into the sink's store, as if it had arrived over SMTP. */
  const deliver = (n: number, fields: Partial<ParsedMessage> = {}) =>
    store.add(
      Buffer.from(`message ${n}`),
      {
        messageId: `<m${n}@test>`,
        from: 'Shop <shop@example.com>',
        to: [`user${n}@example.com`],
        cc: [],
        envelopeTo: [`user${n}@example.com`],
        subject: `message ${n}`,
        size: 10,
        text: `body ${n}`,
        textTruncated: false,
        ...fields,
      },
      new Date(Date.UTC(2026, 0, 1, 0, 0, n)),
    );
  const list = async (query = '') => {
    const response = await call(`/v1/mail${query}`, { token: ADMIN });
    expect(response.status).toBe(200);
    return (await response.json()) as MailList;
  };

  it('answers 401 without the admin token', async () => {
    await expectError(await call('/v1/mail'), 401, 'UNAUTHORIZED');
    await expectError(await call('/v1/mail/0123456789ab', { token: 'nope' }), 401, 'UNAUTHORIZED');
  });

  it('lists what the sink received, newest first, 50 by default, with the text', async () => {
    for (let n = 1; n <= 60; n++) await deliver(n);
    const body = await list();
    expect(body.mode).toBe('sink');
    expect(body.address).toBe('127.0.0.1:2525');
    expect(body.messages).toHaveLength(50);
    expect(body.messages[0]).toMatchObject({ subject: 'message 60', receivedAt: '2026-01-01T00:01:00.000Z' });
    expect(body.messages.at(-1)?.subject).toBe('message 11');
    expect(body.messages[0]?.text).toBe('body 60');
    expect((await list('?limit=3')).messages.map((m) => m.subject)).toEqual([
      'message 60',
      'message 59',
      'message 58',
    ]);
  });

  it('filters on any recipient (To, Cc or envelope) whatever the case', async () => {
    await deliver(1, { to: ['Alice@Example.com'], envelopeTo: ['Alice@Example.com'] });
    await deliver(2, { cc: ['alice@example.com'] });
    await deliver(3, { to: ['bob@example.com'], envelopeTo: ['bob@example.com', 'ALICE@example.com'] });
    await deliver(4, { to: ['bob@example.com'], envelopeTo: ['bob@example.com'] });
    const alice = await list('?to=alice%40EXAMPLE.com');
    expect(alice.messages.map((m) => m.subject)).toEqual(['message 3', 'message 2', 'message 1']);
    expect((await list('?to=nobody@example.com')).messages).toEqual([]);
  });

  it.each([
    ['zero', '?limit=0'],
    ['over 1000', '?limit=1001'],
    ['negative', '?limit=-1'],
    ['a word', '?limit=ten'],
    ['an exponent', '?limit=1e2'],
    ['empty', '?limit='],
  ])('answers 400 for a limit that is %s', async (_, query) => {
    const message = await expectError(await call(`/v1/mail${query}`, { token: ADMIN }), 400, 'BAD_REQUEST');
    expect(message).toBe('"limit" must be a whole number from 1 to 1000.');
  });

  it('answers 400 for an empty to', async () => {
    await expectError(await call('/v1/mail?to=', { token: ADMIN }), 400, 'BAD_REQUEST');
  });

  it('returns one message with its text, and 404 saying where to look for an unknown id', async () => {
    const { entry } = await deliver(1, { text: 'Your order has shipped.' });
    const response = await call(`/v1/mail/${entry.id}`, { token: ADMIN });
    expect(response.status).toBe(200);
    expect((await response.json()) as MailMessage).toEqual({
      ...entry,
      text: 'Your order has shipped.',
      textTruncated: false,
    });
    const message = await expectError(
      await call('/v1/mail/ffffffffffff', { token: ADMIN }),
      404,
      'NOT_FOUND',
    );
    expect(message).toContain('flotilla mail');
  });

  it('says mail goes to the relay, without its credentials, when one is configured', async () => {
    mail = await startMail(
      { url: 'smtp://shop:relay-secret@smtp.example.com:587', sinkPort: 0 },
      {
        stateDir: mailDir,
        log,
      },
    );
    const body = await list('?to=alice@example.com');
    expect(body).toEqual({
      mode: 'relay',
      address: 'smtp.example.com:587',
      messages: [],
      message: expect.stringContaining('Mail goes to the SMTP relay smtp.example.com:587'),
    });
    const message = await expectError(
      await call('/v1/mail/0123456789ab', { token: ADMIN }),
      404,
      'NOT_FOUND',
    );
    expect(message).toContain('relay smtp.example.com:587');
    expect(JSON.stringify(body) + message).not.toContain('relay-secret');
  });
});

describe('dead letters', () => {
  const letter = (service: string, id: string): DeadLetterEntry => ({
    service,
    id,
    subscription: service,
    eventId: '0b7e4a52-5d1c-4c8e-9d39-1f6a1e0c2b11',
    type: 'order.paid',
    error: 'Error: no such order',
    attempts: 10,
    failedAt: '2026-01-01T00:00:00.000Z',
  });
  const replay = (body: string | undefined) =>
    call('/v1/dead-letters/replay', { token: ADMIN, method: 'POST', body });

  it('answers 401 without the admin token', async () => {
    await expectError(await call('/v1/dead-letters'), 401, 'UNAUTHORIZED');
    await expectError(
      await call('/v1/dead-letters/replay', { method: 'POST', body: '{"service":"orders","all":true}' }),
      401,
      'UNAUTHORIZED',
    );
    expect(letters?.calls).toEqual([]);
  });

  it('lists the dead letters of every consuming service, 100 at most by default', async () => {
    letters!.entries.push(letter('orders', '1'), letter('notifications', '7'));
    const response = await call('/v1/dead-letters', { token: ADMIN });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ deadLetters: letters!.entries });
    expect(letters!.calls).toEqual([['list', undefined, 100]]);
  });

  it('passes the service and the limit on', async () => {
    letters!.entries.push(letter('orders', '1'), letter('notifications', '7'));
    const response = await call('/v1/dead-letters?service=orders&limit=5', { token: ADMIN });
    expect(await response.json()).toEqual({ deadLetters: [letter('orders', '1')] });
    expect(letters!.calls).toEqual([['list', 'orders', 5]]);
  });

  it.each([
    ['zero', '?limit=0'],
    ['over 1000', '?limit=1001'],
    ['negative', '?limit=-1'],
    ['a word', '?limit=ten'],
    ['empty', '?limit='],
  ])('answers 400 for a limit that is %s', async (_, query) => {
    const message = await expectError(
      await call(`/v1/dead-letters${query}`, { token: ADMIN }),
      400,
      'BAD_REQUEST',
    );
    expect(message).toBe('"limit" must be a whole number from 1 to 1000.');
    expect(letters!.calls).toEqual([]);
  });

  it('answers 404 naming the consuming services for a service that consumes no events', async () => {
    const expected =
      '"billing" is not a service that subscribes to events, so it has no dead letters (those that do: notifications, orders).';
    expect(
      await expectError(await call('/v1/dead-letters?service=billing', { token: ADMIN }), 404, 'NOT_FOUND'),
    ).toBe(expected);
    expect(await expectError(await replay('{"service":"billing","all":true}'), 404, 'NOT_FOUND')).toBe(
      expected,
    );
    expect(letters!.calls).toEqual([]);
  });

  it('replays the dead letters named by id, once each, and answers with those replayed', async () => {
    letters!.entries.push(letter('orders', '1'), letter('orders', '2'));
    const response = await replay('{"service":"orders","ids":["2","2","9"]}');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ replayed: ['2'] });
    expect(letters!.calls).toEqual([['replay', 'orders', ['2', '9']]]);
  });

  it('replays every dead letter of a service with all: true', async () => {
    letters!.entries.push(letter('orders', '1'), letter('orders', '2'));
    expect(await (await replay('{"service":"orders","all":true}')).json()).toEqual({ replayed: ['1', '2'] });
    expect(letters!.calls).toEqual([['replay', 'orders', 'all']]);
  });

  it.each([
    ['an empty body', undefined, 'Expected a JSON body'],
    ['a blank body', '  ', 'Expected a JSON body'],
    ['an array', '["orders"]', 'Expected a JSON object'],
    ['no service', '{"all":true}', '"service" must name the service'],
    ['neither ids nor all', '{"service":"orders"}', 'Name the dead letters to replay with "ids"'],
    ['an empty list of ids', '{"service":"orders","ids":[]}', 'Name the dead letters to replay with "ids"'],
    ['ids as numbers', '{"service":"orders","ids":[12]}', '"ids" must be a list of dead-letter ids'],
    ['an id that is not a number', '{"service":"orders","ids":["x"]}', '"ids" must be a list'],
    ['all set to false', '{"service":"orders","all":false}', '"all" must be true'],
    ['both ids and all', '{"service":"orders","ids":["1"],"all":true}', 'not both'],
    ['a misspelt field', '{"service":"orders","id":["1"]}', 'Unknown field "id"'],
  ])('answers 400 and replays nothing for %s', async (_, body, message) => {
    letters!.entries.push(letter('orders', '1'));
    expect(await expectError(await replay(body), 400, 'BAD_REQUEST')).toContain(message);
    expect(letters!.calls).toEqual([]);
  });

  it('answers 404 saying why when no service subscribes to events', async () => {
    letters!.services = [];
    const message = await expectError(await call('/v1/dead-letters', { token: ADMIN }), 404, 'NOT_FOUND');
    expect(message).toContain('No service of this system subscribes to events');
    await expectError(await replay('{"service":"orders","all":true}'), 404, 'NOT_FOUND');
  });

  it('answers 503 while the bus is still starting', async () => {
    letters = undefined;
    const message = await expectError(await call('/v1/dead-letters', { token: ADMIN }), 503, 'UNAVAILABLE');
    expect(message).toContain('still starting');
  });
});

describe('listening', () => {
  it('refuses to listen anywhere but loopback', async () => {
    const failure = await startApiServer({
      host: '0.0.0.0',
      port: 0,
      adminToken: ADMIN,
      dataPlaneToken: DATA_PLANE,
      backend: {} as ApiBackend,
      watch,
      limits,
      closeGraceMs: 1_000,
      log,
    }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApiListenError);
    expect((failure as ApiListenError).code).toBe('FLOTILLA_API_HOST');
  });

  it('says which port is taken and where to choose another', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const failure = await startApiServer({
        host: '127.0.0.1',
        port,
        adminToken: ADMIN,
        dataPlaneToken: DATA_PLANE,
        backend: {} as ApiBackend,
        watch,
        limits,
        closeGraceMs: 1_000,
        log,
      }).catch((e: unknown) => e);
      expect((failure as ApiListenError).code).toBe('FLOTILLA_PORT_IN_USE');
      expect((failure as ApiListenError).message).toContain(`port ${port} on 127.0.0.1 is in use`);
      expect((failure as ApiListenError).message).toContain('controlPlane.port');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

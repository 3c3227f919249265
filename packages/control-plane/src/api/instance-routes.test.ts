import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSpec, type RoutingTable, type SystemSpec } from '@flotilla/spec';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MeshIdentity } from '../mesh-identity.ts';
import { buildSystemStatus, buildWorkloads, Registry } from '../registry/index.ts';
import type { CaRotation, CertificateGrant, InstanceStatus, SystemStatus } from '../types.ts';
import { WatchStream } from '../watch/index.ts';
import { type ApiServer, startApiServer } from './index.ts';

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

let dir: string;
let api: ApiServer;
let watch: WatchStream;
let identity: MeshIdentity;
let registry: Registry;

function specIn(mtls: 'strict' | 'disable'): SystemSpec {
  return parseSpec(
    `name: shop
mesh: { mtls: ${mtls}, certificates: { ttlMs: 600000 } }
services:
  orders:
    path: orders
    versions: { v1: {}, v2: {} }
`,
    { dir },
  );
}

function instance(id: string): InstanceStatus {
  const [service, version] = id.split('-') as [string, string];
  return {
    id,
    service,
    version,
    pid: 1000,
    port: 4000,
    state: 'ready',
    restarts: 0,
    startedAt: '2026-01-01T00:00:00.000Z',
    readySince: '2026-01-01T00:00:01.000Z',
    lastExit: null,
    nextRestartAt: null,
  };
}

async function start(spec: SystemSpec) {
  identity = await MeshIdentity.open({ spec, log });
  registry = new Registry(spec, 1);
  registry.setTrustBundle(identity.trustBundle());
  identity.onTrustBundle((bundle) => registry.setTrustBundle(bundle));
  watch = new WatchStream({ source: registry, heartbeatMs: 15_000, log });
  const workloads = buildWorkloads(spec, {
    controlUrl: 'http://127.0.0.1:7070',
    dataPlaneToken: DATA_PLANE,
    logLevel: 'info',
    secrets: {},
    databaseUrls: {},
    smtpUrl: 'smtp://127.0.0.1:2525',
    busUrl: undefined,
    gateway: { entry: '/opt/gateway/main.ts', host: '127.0.0.1', port: 8080 },
  });
  const status = (): SystemStatus =>
    buildSystemStatus({
      spec,
      workloads,
      instances: ['orders-v1-1', 'orders-v1-2', 'orders-v2-1', 'gateway-v1-1'].map(instance),
      desiredReplicas: () => ({}),
      revision: registry.table().revision,
      startedAt: '2026-01-01T00:00:00.000Z',
      adminUrl: '',
      gatewayUrl: '',
      postgres: { mode: 'none', host: null, port: null },
      mail: undefined,
      bus: undefined,
      ejections: identity.ejections(),
    });
  api = await startApiServer({
    host: '127.0.0.1',
    port: 0,
    adminToken: ADMIN,
    dataPlaneToken: DATA_PLANE,
    instanceTokens: identity.tokens,
    backend: {
      status,
      table: () => registry.table(),
      scale: () => Promise.reject(new Error('not used here')),
      logs: { tail: () => [], subscribe: () => () => {} },
      mail: { mode: 'sink', address: '127.0.0.1:2525', list: () => [], get: () => undefined },
      deadLetters: () => undefined,
      shutdown: () => {},
      certificate: (holder, publicKeyPem) => identity.certificate(holder, publicKeyPem),
      reportOutliers: (holder, ejected) => identity.reportOutliers(holder, ejected),
      rotateCa: () => identity.rotateCa(),
    },
    watch,
    limits,
    closeGraceMs: 1_000,
    log,
  });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-api-identity-'));
});

afterEach(async () => {
  watch?.close();
  await api?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A process of `id` as the supervisor starts it: with its own instance token. */
function processOf(id: string): string {
  const [service, version] = id.split('-') as [string, string];
  return identity.tokens.issue({ id, service, version });
}

function post(path: string, token: string | undefined, body: string | undefined) {
  return fetch(`${api.url}${path}`, {
    method: 'POST',
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body,
  });
}

const publicKey = () =>
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;

async function expectError(response: Response, status: number, code: string): Promise<string> {
  expect(response.status).toBe(status);
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  return body.error.message;
}

async function statusOf(id: string) {
  const response = await fetch(`${api.url}/v1/status`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const status = (await response.json()) as SystemStatus;
  return status.services.flatMap((s) => s.instances).find((i) => i.id === id)!;
}

describe('POST /v1/certificate', () => {
  beforeEach(() => start(specIn('strict')));

  it('issues a certificate naming the calling instance by workload and version, with the roots to trust', async () => {
    const token = processOf('orders-v2-1');
    const before = Date.now();
    const response = await post('/v1/certificate', token, JSON.stringify({ publicKey: publicKey() }));
    expect(response.status).toBe(200);
    const grant = (await response.json()) as CertificateGrant;
    expect(Object.keys(grant).sort()).toEqual(['certificate', 'chain', 'notAfter', 'trustBundle']);
    const leaf = new X509Certificate(grant.certificate);
    expect(leaf.subjectAltName).toBe('URI:spiffe://flotilla.local/ns/shop/sa/orders/v/v2');
    expect(grant.chain).toBe(grant.certificate);
    expect(grant.trustBundle).toEqual(identity.trustBundle());
    expect(grant.trustBundle).toEqual(registry.table().mesh.trustBundle);
    expect(leaf.checkIssued(new X509Certificate(grant.trustBundle.at(-1)!))).toBe(true);
    const lifetime = Date.parse(grant.notAfter) - before;
    expect(lifetime).toBeGreaterThan(600_000 - 2_000);
    expect(lifetime).toBeLessThanOrEqual(600_000);
  });

  it('names a gateway instance as the gateway workload', async () => {
    const response = await post(
      '/v1/certificate',
      processOf('gateway-v1-1'),
      JSON.stringify({ publicKey: publicKey() }),
    );
    const grant = (await response.json()) as CertificateGrant;
    expect(new X509Certificate(grant.certificate).subjectAltName).toBe(
      'URI:spiffe://flotilla.local/ns/shop/sa/gateway/v/v1',
    );
  });

  it('answers 401 for a token no running process holds, or one whose process has exited', async () => {
    const body = JSON.stringify({ publicKey: publicKey() });
    await expectError(await post('/v1/certificate', 'made-up-token', body), 401, 'UNAUTHORIZED');
    const token = processOf('orders-v1-1');
    identity.tokens.revoke(token);
    await expectError(await post('/v1/certificate', token, body), 401, 'UNAUTHORIZED');
    await expectError(await post('/v1/certificate', undefined, body), 401, 'UNAUTHORIZED');
  });

  it.each([
    ['the admin token', ADMIN],
    ['the data-plane token', DATA_PLANE],
  ])('answers 403 for %s, saying which token to use', async (_, token) => {
    const message = await expectError(
      await post('/v1/certificate', token, JSON.stringify({ publicKey: publicKey() })),
      403,
      'FORBIDDEN',
    );
    expect(message).toContain('FLOTILLA_INSTANCE_TOKEN');
  });

  it.each<[string, string | undefined, string]>([
    ['no body', undefined, 'Expected a JSON body'],
    ['invalid JSON', '{"publicKey": ', 'not valid JSON'],
    ['an array', '["x"]', 'Expected a JSON object like {"publicKey": "-----BEGIN PUBLIC KEY-----'],
    ['no publicKey', '{}', '"publicKey" must be the SPKI PEM'],
    ['a publicKey that is not a string', '{"publicKey": 12}', '"publicKey" must be the SPKI PEM'],
    ['another field', '{"publicKey": "x", "csr": "y"}', 'Unknown field "csr"; send only "publicKey"'],
    ['a PEM that is no public key', '{"publicKey": "hello"}', 'Expected one public key as SPKI PEM'],
  ])('answers 400 for %s, saying what to send', async (_, body, message) => {
    const response = await post('/v1/certificate', processOf('orders-v1-1'), body);
    expect(await expectError(response, 400, 'BAD_REQUEST')).toContain(message);
  });

  it('answers 400 for a private key without echoing it', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }) as string;
    const response = await post(
      '/v1/certificate',
      processOf('orders-v1-1'),
      JSON.stringify({ publicKey: key }),
    );
    const message = await expectError(response, 400, 'BAD_REQUEST');
    expect(message).toContain('That is a private key');
    expect(message).not.toContain(key.split('\n')[1]);
  });

  it('answers 413 for a body over 16 KiB', async () => {
    const body = JSON.stringify({ publicKey: 'x'.repeat(17 * 1024) });
    await expectError(await post('/v1/certificate', processOf('orders-v1-1'), body), 413, 'BODY_TOO_LARGE');
  });
});

describe('POST /v1/outliers', () => {
  beforeEach(() => start(specIn('strict')));

  const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
  const report = (token: string, ejected: unknown[]) =>
    post('/v1/outliers', token, JSON.stringify({ ejected }));
  const entry = (endpoint: string, until: string) => ({ service: 'orders', endpoint, until, ejections: 1 });

  it('replaces what the reporter said before, shows it in the status, and clears it with an empty list', async () => {
    const gateway = processOf('gateway-v1-1');
    const until = inSeconds(30);
    const first = await report(gateway, [entry('orders-v1-1', until), entry('orders-v1-2', until)]);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ reported: 2 });
    expect((await statusOf('orders-v1-1')).ejected).toEqual({ by: ['gateway-v1-1'], until });

    await report(gateway, [entry('orders-v1-2', until)]);
    expect((await statusOf('orders-v1-1')).ejected).toBeNull();
    expect((await statusOf('orders-v1-2')).ejected).toEqual({ by: ['gateway-v1-1'], until });

    await report(gateway, []);
    expect((await statusOf('orders-v1-2')).ejected).toBeNull();
  });

  it('names every reporter of an endpoint, with the latest end, and keeps one when the other clears', async () => {
    const gateway = processOf('gateway-v1-1');
    const orders = processOf('orders-v2-1');
    await report(gateway, [entry('orders-v1-2', inSeconds(10))]);
    const later = inSeconds(40);
    await report(orders, [entry('orders-v1-2', later)]);
    expect((await statusOf('orders-v1-2')).ejected).toEqual({
      by: ['gateway-v1-1', 'orders-v2-1'],
      until: later,
    });
    await report(orders, []);
    expect((await statusOf('orders-v1-2')).ejected?.by).toEqual(['gateway-v1-1']);
  });

  it('does not show an ejection whose end has passed', async () => {
    await report(processOf('gateway-v1-1'), [entry('orders-v1-1', inSeconds(-1))]);
    expect((await statusOf('orders-v1-1')).ejected).toBeNull();
  });

  it('forgets what a reporter said once its process has exited', async () => {
    const gateway = processOf('gateway-v1-1');
    await report(gateway, [entry('orders-v1-1', inSeconds(30))]);
    identity.tokens.revoke(gateway);
    expect((await statusOf('orders-v1-1')).ejected).toBeNull();
  });

  it('answers 401 for an unknown token and 403 for the data-plane token', async () => {
    await expectError(await report('made-up-token', []), 401, 'UNAUTHORIZED');
    await expectError(await report(DATA_PLANE, []), 403, 'FORBIDDEN');
  });

  it.each<[string, string, string]>([
    ['no list', '{}', '"ejected" must be the list'],
    ['another field', '{"ejected": [], "at": 1}', 'Unknown field "at"'],
    ['an entry that is not an object', '{"ejected": [1]}', 'ejected[0]: expected an object'],
    [
      'an entry without service',
      '{"ejected": [{"endpoint": "orders-v1-1", "until": "2030-01-01T00:00:00Z", "ejections": 1}]}',
      'ejected[0]: "service"',
    ],
    [
      'a time that is not ISO',
      '{"ejected": [{"service": "orders", "endpoint": "orders-v1-1", "until": "tomorrow", "ejections": 1}]}',
      '"until" must be the ISO time',
    ],
    [
      'zero ejections',
      '{"ejected": [{"service": "orders", "endpoint": "orders-v1-1", "until": "2030-01-01T00:00:00Z", "ejections": 0}]}',
      '"ejections" must be a whole number',
    ],
    [
      'an unknown entry field',
      '{"ejected": [{"service": "orders", "endpoint": "orders-v1-1", "until": "2030-01-01T00:00:00Z", "ejections": 1, "x": 1}]}',
      'unknown field "x"',
    ],
  ])('answers 400 for %s, with an example of what to send', async (_, body, message) => {
    const response = await post('/v1/outliers', processOf('gateway-v1-1'), body);
    const text = await expectError(response, 400, 'BAD_REQUEST');
    expect(text).toContain(message);
    expect(text).toContain('{"ejected": [{"service": "orders", "endpoint": "orders-v1-2"');
  });
});

describe('POST /v1/ca/rotate', () => {
  beforeEach(() => start(specIn('strict')));

  it('starts a rotation with the admin token, answering the new root and the bundle size, and republishes the table', async () => {
    const token = processOf('orders-v1-1');
    await post('/v1/certificate', token, JSON.stringify({ publicKey: publicKey() }));
    const revision = registry.table().revision;

    const response = await post('/v1/ca/rotate', ADMIN, undefined);
    expect(response.status).toBe(200);
    const rotation = (await response.json()) as CaRotation;
    expect(rotation.trustBundleSize).toBe(2);
    const table = (await (
      await fetch(`${api.url}/v1/table`, { headers: { authorization: `Bearer ${DATA_PLANE}` } })
    ).json()) as RoutingTable;
    expect(table.revision).toBe(revision + 1);
    expect(table.mesh.trustBundle).toHaveLength(2);
    expect(new X509Certificate(table.mesh.trustBundle[1]!).fingerprint256).toBe(rotation.fingerprint);

    const renewed = (await (
      await post('/v1/certificate', token, JSON.stringify({ publicKey: publicKey() }))
    ).json()) as CertificateGrant;
    expect(
      new X509Certificate(renewed.certificate).checkIssued(new X509Certificate(table.mesh.trustBundle[1]!)),
    ).toBe(true);
    // Both roots, still: the old one stays a moment after the last renewal (CA_DEFAULTS.oldRootHoldMs).
    expect(renewed.trustBundle).toEqual(table.mesh.trustBundle);
    const deadline = performance.now() + 5_000;
    while (registry.table().mesh.trustBundle.length > 1 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(registry.table().mesh.trustBundle).toEqual([table.mesh.trustBundle[1]]);
    expect(registry.table().revision).toBe(revision + 2);
  });

  it('refuses the data-plane token and instance tokens', async () => {
    await expectError(await post('/v1/ca/rotate', DATA_PLANE, undefined), 403, 'FORBIDDEN');
    const message = await expectError(
      await post('/v1/ca/rotate', processOf('orders-v1-1'), undefined),
      403,
      'FORBIDDEN',
    );
    expect(message).toContain('An instance token only grants POST /v1/certificate and /v1/outliers');
    expect(identity.trustBundle()).toHaveLength(1);
  });
});

describe('under mesh.mtls: disable', () => {
  beforeEach(() => start(specIn('disable')));

  it('creates no CA, and answers 404 saying why for a certificate and a rotation', async () => {
    expect(existsSync(join(dir, '.flotilla', 'ca'))).toBe(false);
    expect(registry.table().mesh.trustBundle).toEqual([]);
    const body = JSON.stringify({ publicKey: publicKey() });
    expect(
      await expectError(await post('/v1/certificate', processOf('orders-v1-1'), body), 404, 'NOT_FOUND'),
    ).toContain('mesh.mtls is "disable"');
    await expectError(await post('/v1/ca/rotate', ADMIN, undefined), 404, 'NOT_FOUND');
  });
});

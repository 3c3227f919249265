import { once } from 'node:events';
import { connect as connectTls } from 'node:tls';
import type { AuthorizationRule, MeshTable, WorkloadIdentity } from '@flotilla/spec';
import { Client } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { routesOf, startTestControlPlane, type TestControlPlane } from './mesh.fixture.ts';
import { createService, type Service } from './service.ts';

const quiet = { write: () => undefined };
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const workload = (service: string): WorkloadIdentity => ({ system: 'local', service, version: 'v1' });

async function controlPlane(): Promise<TestControlPlane> {
  const cp = await startTestControlPlane();
  cleanups.push(() => cp.close());
  return cp;
}

/** `payments` v1 under the control plane, with a few routes, started on the table `mesh` and `authorization`. */
async function startPayments(
  cp: TestControlPlane,
  mesh: Partial<MeshTable>,
  authorization: AuthorizationRule[] | null = null,
): Promise<Service> {
  const service = createService({
    name: 'payments',
    env: { PORT: '0', ...cp.env('payments', 'v1') },
    logDestination: quiet,
  });
  service.get('/status', () => ({ ok: true }));
  service.get('/charges/:id', (ctx) => ({ id: ctx.params.id }));
  service.post('/charges/:id', (ctx) => ({ charged: ctx.params.id }));
  service.get('/whoami', (ctx) => ctx.caller);
  cleanups.push(() => service.stop());
  cp.publish({ payments: routesOf('payments', { v1: 1 }, { authorization }) }, mesh);
  await service.start();
  return service;
}

function plainClient(port: number): Client {
  const client = new Client(`http://127.0.0.1:${port}`);
  cleanups.push(() => client.destroy());
  return client;
}

/** A client presenting a certificate of the control plane's CA that names `service`. */
async function tlsClient(cp: TestControlPlane, port: number, service: string): Promise<Client> {
  const client = new Client(`https://127.0.0.1:${port}`, {
    connect: {
      ...(await cp.ca.credentials(workload(service))),
      ca: [cp.ca.root],
      checkServerIdentity: () => undefined,
    },
  });
  cleanups.push(() => client.destroy());
  return client;
}

async function call(client: Client, method: string, path: string, headers: Record<string, string> = {}) {
  const res = await client.request({ method, path, headers });
  const text = await res.body.text();
  return { status: res.statusCode, body: text.startsWith('{') ? JSON.parse(text) : text };
}

/** The value of the sample of `name` whose labels include every pair of `labels`; undefined when none. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const pairs = Object.fromEntries(
      [...line.matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!] as const),
    );
    if (Object.entries(labels).every(([k, v]) => pairs[k] === v)) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

async function metricsOf(port: number): Promise<string> {
  return (await call(plainClient(port), 'GET', '/metrics')).body as string;
}

describe('mutual TLS on the inbound side', () => {
  it('under strict, refuses plaintext with 403 MTLS_REQUIRED but answers probes and scrapes', async () => {
    const cp = await controlPlane();
    const payments = await startPayments(cp, { mtls: 'strict' });
    const plain = plainClient(payments.port);

    expect(await call(plain, 'GET', '/status')).toEqual({
      status: 403,
      body: {
        error: {
          code: 'MTLS_REQUIRED',
          message:
            'this service accepts only mutual TLS from workloads of the mesh; call it through the mesh client',
        },
      },
    });
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      expect((await call(plain, 'GET', path)).status).toBe(200);
    }
    expect(await call(await tlsClient(cp, payments.port, 'orders'), 'GET', '/status')).toEqual({
      status: 200,
      body: { ok: true },
    });
  });

  it('refuses plaintext before the first routing table arrives, as strict does', async () => {
    const cp = await controlPlane();
    const service = createService({
      name: 'payments',
      env: { PORT: '0', ...cp.env('payments', 'v1') },
      logDestination: quiet,
    });
    service.get('/status', () => ({ ok: true }));
    cleanups.push(() => service.stop());
    const starting = service.start();
    let port: number | undefined;
    while (port === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      try {
        port = service.port;
      } catch {}
    }
    const plain = plainClient(port);
    expect((await call(plain, 'GET', '/status')).body.error.code).toBe('MTLS_REQUIRED');
    expect((await call(plain, 'GET', '/healthz')).status).toBe(200);

    cp.publish({}, { mtls: 'disable' });
    await starting;
    expect(await call(plain, 'GET', '/status')).toEqual({ status: 200, body: { ok: true } });
  });

  it('takes both under permissive, and under disable plaintext only, closing a TLS hello', async () => {
    const cp = await controlPlane();
    const payments = await startPayments(cp, { mtls: 'permissive' });
    expect((await call(plainClient(payments.port), 'GET', '/status')).status).toBe(200);
    expect((await call(await tlsClient(cp, payments.port, 'orders'), 'GET', '/status')).status).toBe(200);

    cp.publish({ payments: routesOf('payments', { v1: payments.port }) }, { mtls: 'disable' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await call(plainClient(payments.port), 'GET', '/status')).status).toBe(200);
    await expect(call(await tlsClient(cp, payments.port, 'orders'), 'GET', '/status')).rejects.toThrow();
  });

  it('holds its certificate by the time it is ready when the first table turns mutual TLS on, and asks none under disable', async () => {
    const cp = await controlPlane();
    const payments = await startPayments(cp, { mtls: 'strict' });
    expect(payments.ready).toBe(true);
    expect(cp.issued).toEqual(['payments-v1-1']);

    const other = createService({
      name: 'ledger',
      env: { PORT: '0', ...cp.env('ledger', 'v1') },
      logDestination: quiet,
    });
    cleanups.push(() => other.stop());
    cp.publish({}, { mtls: 'disable' });
    await other.start();
    expect(cp.issued).toEqual(['payments-v1-1']);
  });

  it('asks for its certificate while it waits for the first table, not after it', async () => {
    const cp = await controlPlane();
    const payments = createService({
      name: 'payments',
      env: { PORT: '0', ...cp.env('payments', 'v1') },
      logDestination: quiet,
    });
    cleanups.push(() => payments.stop());
    const starting = payments.start();
    const deadline = performance.now() + 5_000;
    while (cp.issued.length === 0 && performance.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    // Issued, and no table sent yet: the service is still waiting for one.
    expect(cp.issued).toEqual(['payments-v1-1']);
    expect(payments.ready).toBe(false);
    cp.publish({}, { mtls: 'strict' });
    await starting;
    expect(payments.ready).toBe(true);
    expect(cp.issued).toEqual(['payments-v1-1']);
  });

  it('closes a TLS keep-alive connection that waits when it stops, and stops in time', async () => {
    const cp = await controlPlane();
    const payments = await startPayments(cp, { mtls: 'strict' });
    const socket = connectTls({
      port: payments.port,
      host: '127.0.0.1',
      ...(await cp.ca.credentials(workload('orders'))),
      ca: [cp.ca.root],
      checkServerIdentity: () => undefined,
    });
    await once(socket, 'secureConnect');
    socket.write('GET /status HTTP/1.1\r\nhost: payments\r\n\r\n');
    await once(socket, 'data');
    const closed = once(socket, 'close');
    expect(await payments.stop()).toBe(true);
    await closed;
  });
});

describe('authorization on the inbound side', () => {
  const rules: AuthorizationRule[] = [
    { from: ['orders'], methods: ['POST'], paths: ['/charges/*'] },
    { from: ['gateway'], paths: ['/status'] },
  ];

  it('lets in what a rule allows, refuses the rest with 403 FORBIDDEN_BY_POLICY, and counts refusals', async () => {
    const cp = await controlPlane();
    const payments = await startPayments(cp, { mtls: 'permissive' }, rules);
    const clients = {
      orders: await tlsClient(cp, payments.port, 'orders'),
      users: await tlsClient(cp, payments.port, 'users'),
      gateway: await tlsClient(cp, payments.port, 'gateway'),
      plaintext: plainClient(payments.port),
    };
    const cases: [keyof typeof clients, string, string, number][] = [
      ['orders', 'POST', '/charges/7', 200],
      ['orders', 'GET', '/charges/7', 403],
      ['orders', 'GET', '/status', 403],
      ['users', 'POST', '/charges/7', 403],
      ['gateway', 'GET', '/status', 200],
      ['gateway', 'GET', '/status/more', 403],
      ['gateway', 'POST', '/charges/7', 403],
      ['plaintext', 'POST', '/charges/7', 403],
      ['plaintext', 'GET', '/healthz', 200],
      ['users', 'GET', '/readyz', 200],
      ['users', 'GET', '/nowhere', 403],
    ];
    for (const [caller, method, path, status] of cases) {
      expect({ caller, method, path, status: (await call(clients[caller], method, path)).status }).toEqual({
        caller,
        method,
        path,
        status,
      });
    }

    expect((await call(clients.users, 'POST', '/charges/7')).body).toEqual({
      error: {
        code: 'FORBIDDEN_BY_POLICY',
        message:
          'workload "users" may not call payments POST /charges/7; see services.payments.authorization in flotilla.yaml',
      },
    });
    expect((await call(clients.plaintext, 'GET', '/status')).body.error.message).toMatch(
      /^a caller without a workload certificate may not call payments GET \/status;/,
    );

    const text = await metricsOf(payments.port);
    const denied = (source_workload: string) =>
      sample(text, 'flotilla_authorization_denied_total', { source_workload });
    expect([denied('orders'), denied('users'), denied('gateway'), denied('unknown')]).toEqual([2, 3, 2, 2]);
    expect(
      sample(text, 'istio_requests_total', {
        reporter: 'destination',
        source_workload: 'orders-v1',
        response_code: '403',
        connection_security_policy: 'mutual_tls',
      }),
    ).toBe(2);
  });

  it('takes the user the gateway vouches for from the gateway only, not from another workload nor from plaintext', async () => {
    const cp = await controlPlane();
    const payments = await startPayments(cp, { mtls: 'permissive' });
    const user = { 'x-flotilla-subject': 'alice', 'x-flotilla-roles': 'admin' };
    const whoami = async (client: Client) => (await call(client, 'GET', '/whoami', user)).body;

    expect(await whoami(await tlsClient(cp, payments.port, 'gateway'))).toEqual({
      subject: 'alice',
      roles: ['admin'],
    });
    expect(await whoami(await tlsClient(cp, payments.port, 'orders'))).toEqual({ roles: [] });
    // Under permissive plaintext still gets in, but as nobody: the gateway always calls over mutual TLS.
    expect(await whoami(plainClient(payments.port))).toEqual({ roles: [] });
  });
});

describe("Istio's request metrics", () => {
  it('reports each request it answers as destination and each call it makes as source, with the security policy', async () => {
    const cp = await controlPlane();
    const ledger = createService({
      name: 'ledger',
      env: { PORT: '0', ...cp.env('ledger', 'v1') },
      logDestination: quiet,
    });
    ledger.get('/entries', () => ({ entries: 3 }));
    cleanups.push(() => ledger.stop());
    const payments = createService({
      name: 'payments',
      env: { PORT: '0', ...cp.env('payments', 'v1') },
      logDestination: quiet,
    });
    payments.get('/settle', async () =>
      (await payments.mesh.request({ service: 'ledger', path: '/entries' })).json(),
    );
    cleanups.push(() => payments.stop());
    cp.publish({}, { mtls: 'permissive' });
    await Promise.all([ledger.start(), payments.start()]);
    cp.publish(
      {
        ledger: routesOf('ledger', { v1: ledger.port }),
        payments: routesOf('payments', { v1: payments.port }),
      },
      { mtls: 'permissive' },
    );
    await new Promise((resolve) => setTimeout(resolve, 100));

    const orders = await tlsClient(cp, payments.port, 'orders');
    for (let i = 0; i < 2; i++)
      expect(await call(orders, 'GET', '/settle')).toEqual({ status: 200, body: { entries: 3 } });
    expect((await call(plainClient(payments.port), 'GET', '/nowhere')).status).toBe(404);
    await call(plainClient(payments.port), 'GET', '/healthz');

    const text = await metricsOf(payments.port);
    const destination = {
      reporter: 'destination',
      destination_service_name: 'payments',
      destination_workload: 'payments-v1',
      destination_version: 'v1',
      response_flags: '-',
    };
    expect(
      sample(text, 'istio_requests_total', {
        ...destination,
        source_workload: 'orders-v1',
        source_version: 'v1',
        response_code: '200',
        connection_security_policy: 'mutual_tls',
      }),
    ).toBe(2);
    expect(
      sample(text, 'istio_requests_total', {
        ...destination,
        source_workload: 'unknown',
        source_version: 'unknown',
        response_code: '404',
        connection_security_policy: 'none',
      }),
    ).toBe(1);
    // Probes and scrapes are not requests of the mesh.
    expect(text.match(/^istio_requests_total\{reporter="destination"/gm)).toHaveLength(2);
    expect(
      sample(text, 'istio_requests_total', {
        reporter: 'source',
        source_workload: 'payments-v1',
        source_version: 'v1',
        destination_service_name: 'ledger',
        destination_workload: 'ledger-v1',
        destination_version: 'v1',
        response_code: '200',
        response_flags: '-',
        connection_security_policy: 'mutual_tls',
      }),
    ).toBe(2);
    expect(
      sample(text, 'istio_request_duration_milliseconds_count', {
        reporter: 'source',
        destination_service_name: 'ledger',
      }),
    ).toBe(2);

    expect(
      sample(await metricsOf(ledger.port), 'istio_requests_total', {
        reporter: 'destination',
        source_workload: 'payments-v1',
        destination_workload: 'ledger-v1',
        connection_security_policy: 'mutual_tls',
      }),
    ).toBe(2);
  });
});

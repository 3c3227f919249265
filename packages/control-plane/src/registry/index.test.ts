import { DEFAULT_RESILIENCE, ENV, parseSpec, type RoutingTable } from '@flotilla/spec';
import { describe, expect, it } from 'vitest';
import type { InstanceState, InstanceStatus } from '../types.ts';
import { buildRoutingTable, buildSystemStatus, buildWorkloads, Registry } from './index.ts';

const spec = parseSpec(
  `
name: shop
gateway:
  routes:
    - match: { pathPrefix: /api/orders }
      service: orders
services:
  orders:
    path: services/orders
    database: true
    events: { publishes: [order.paid] }
    env: { FLOTILLA_SERVICE: spoofed, GREETING: hi }
    secrets: [STRIPE_KEY]
    versions:
      v1: { weight: 90, labels: { track: stable } }
      v2: { weight: 10, replicas: 2, entry: src/v2.ts, env: { FEATURE: on } }
  users:
    path: services/users
`,
  { dir: '/srv/shop', file: '/srv/shop/flotilla.yaml' },
);

function instance(id: string, state: InstanceState, port: number, overrides: Partial<InstanceStatus> = {}) {
  const [service, version] = id.split('-') as [string, string];
  return {
    id,
    service,
    version,
    pid: 1000 + port,
    port,
    state,
    restarts: 0,
    startedAt: '2026-01-01T00:00:00.000Z',
    readySince: state === 'ready' ? '2026-01-01T00:00:01.000Z' : null,
    lastExit: null,
    nextRestartAt: null,
    ...overrides,
  } satisfies InstanceStatus;
}

const endpoint = (id: string, port: number, mtls = false) => {
  const [service, version] = id.split('-') as [string, string];
  return { id, service, version, host: '127.0.0.1', port, mtls };
};

describe('buildRoutingTable', () => {
  const first = buildRoutingTable(spec, [instance('orders-v1-1', 'ready', 4001)], undefined);

  it.each<{ name: string; instances: InstanceStatus[]; orders: ReturnType<typeof endpoint>[] }>([
    {
      name: 'lists ready instances and no instance in any other state',
      instances: [
        instance('orders-v1-1', 'ready', 4001),
        ...(['starting', 'unready', 'crashloop', 'stopping', 'stopped', 'failed'] as const).map((s, i) =>
          instance(`orders-v1-${i + 2}`, s, 4002 + i),
        ),
      ],
      orders: [endpoint('orders-v1-1', 4001)],
    },
    {
      name: 'orders endpoints by instance id, numbers compared as numbers',
      instances: [
        instance('orders-v1-10', 'ready', 4010),
        instance('orders-v2-1', 'ready', 4020),
        instance('orders-v1-2', 'ready', 4002),
      ],
      orders: [endpoint('orders-v1-2', 4002), endpoint('orders-v1-10', 4010), endpoint('orders-v2-1', 4020)],
    },
    {
      name: 'leaves out instances of a version or a service the spec does not have',
      instances: [
        instance('orders-v9-1', 'ready', 4090),
        instance('gateway-v1-1', 'ready', 4100),
        instance('orders-v2-1', 'ready', 4020),
      ],
      orders: [endpoint('orders-v2-1', 4020)],
    },
    { name: 'lists no endpoint when nothing is ready', instances: [], orders: [] },
  ])('$name', ({ instances, orders }) => {
    expect(buildRoutingTable(spec, instances, undefined).services.orders?.endpoints).toEqual(orders);
  });

  it('marks the endpoints of instances that hold a workload certificate as taking mutual TLS', () => {
    const instances = [instance('orders-v1-1', 'ready', 4001), instance('orders-v1-2', 'ready', 4002)];
    const table = buildRoutingTable(spec, instances, undefined, [], new Set(['orders-v1-2']));
    expect(table.services.orders?.endpoints).toEqual([
      endpoint('orders-v1-1', 4001),
      endpoint('orders-v1-2', 4002, true),
    ]);
  });

  it("carries each version's weight and labels, the system name and the gateway spec", () => {
    expect(first.system).toBe('shop');
    expect(first.gateway).toBe(spec.gateway);
    expect(first.services.orders?.versions).toEqual({
      v1: { weight: 90, labels: { track: 'stable', version: 'v1' } },
      v2: { weight: 10, labels: { version: 'v2' } },
    });
    expect(first.services.users).toEqual({
      versions: { v1: { weight: 100, labels: { version: 'v1' } } },
      endpoints: [],
      stableVersion: 'v1',
      traffic: [],
      resilience: DEFAULT_RESILIENCE,
      authorization: null,
    });
    expect(first.services.orders?.stableVersion).toBe('v1');
    expect(first.mesh).toEqual({ mtls: 'permissive', versionAffinity: false, trustBundle: [] });
  });

  it.each<{ name: string; next: InstanceStatus[]; same: boolean; revision: number }>([
    {
      name: 'returns the previous table itself when only restarts and times changed',
      next: [instance('orders-v1-1', 'ready', 4001, { restarts: 3, readySince: '2026-02-02T00:00:00.000Z' })],
      same: true,
      revision: 1,
    },
    {
      name: 'bumps the revision by one when an endpoint becomes ready',
      next: [instance('orders-v1-1', 'ready', 4001), instance('orders-v1-2', 'ready', 4002)],
      same: false,
      revision: 2,
    },
    {
      name: 'bumps the revision by one when an endpoint turns unready',
      next: [instance('orders-v1-1', 'unready', 4001)],
      same: false,
      revision: 2,
    },
    {
      name: 'bumps the revision by one when an instance comes back on another port',
      next: [instance('orders-v1-1', 'ready', 4999)],
      same: false,
      revision: 2,
    },
  ])('$name', ({ next, same, revision }) => {
    const table = buildRoutingTable(spec, next, first);
    expect(table === first).toBe(same);
    expect(table.revision).toBe(revision);
  });

  it('starts at revision 1 without a previous table', () => {
    expect(first.revision).toBe(1);
  });
});

describe('Registry', () => {
  it('starts at the revision it is given and tells listeners only about changed content', () => {
    const registry = new Registry(spec, 500);
    const seen: RoutingTable[] = [];
    const unsubscribe = registry.subscribe((t) => seen.push(t));
    expect(registry.table().revision).toBe(500);
    expect(registry.update([])).toBe(false);
    expect(registry.update([instance('users-v1-1', 'ready', 5001)])).toBe(true);
    expect(registry.update([instance('users-v1-1', 'ready', 5001, { restarts: 1 })])).toBe(false);
    unsubscribe();
    expect(registry.update([])).toBe(true);
    expect(seen.map((t) => t.revision)).toEqual([501]);
    expect(registry.table().revision).toBe(502);
  });

  it('publishes the trust bundle with the instances it last saw, and a new revision only when the bundle changed', () => {
    const registry = new Registry(spec, 10);
    const seen: RoutingTable[] = [];
    registry.subscribe((t) => seen.push(t));
    registry.update([instance('users-v1-1', 'ready', 5001)]);
    expect(registry.setTrustBundle(['OLD'])).toBe(true);
    expect(registry.setTrustBundle(['OLD'])).toBe(false);
    expect(registry.setTrustBundle(['OLD', 'NEW'])).toBe(true);
    expect(registry.update([instance('users-v1-1', 'ready', 5001)])).toBe(false);
    expect(seen.map((t) => [t.revision, t.mesh.trustBundle])).toEqual([
      [11, []],
      [12, ['OLD']],
      [13, ['OLD', 'NEW']],
    ]);
    expect(registry.table().services.users?.endpoints.map((e) => e.id)).toEqual(['users-v1-1']);
  });
});

describe('buildWorkloads', () => {
  const workloads = buildWorkloads(spec, {
    controlUrl: 'http://127.0.0.1:7070',
    dataPlaneToken: 'dp-token',
    logLevel: 'debug',
    secrets: { orders: { STRIPE_KEY: 'sk' }, users: {} },
    databaseUrls: { orders: 'postgres://flotilla_shop_orders:pw@127.0.0.1:5432/flotilla_shop_orders' },
    smtpUrl: 'smtp://flotilla:sink-password@127.0.0.1:2525',
    busUrl: 'amqp://shop:bus-password@127.0.0.1:5672',
    gateway: { entry: '/opt/gateway/main.ts', host: '127.0.0.1', port: 18080 },
  });
  const byName = Object.fromEntries(workloads.map((w) => [w.name, w]));

  it('gives a service its env, secrets, database and the instance contract, the contract winning', () => {
    const orders = byName.orders!;
    expect(orders.kind).toBe('service');
    expect(orders.cwd).toBe('/srv/shop/services/orders');
    expect(orders.env).toMatchObject({
      GREETING: 'hi',
      STRIPE_KEY: 'sk',
      [ENV.service]: 'orders',
      [ENV.system]: 'shop',
      [ENV.controlUrl]: 'http://127.0.0.1:7070',
      [ENV.dataPlaneToken]: 'dp-token',
      [ENV.logLevel]: 'debug',
      [ENV.host]: '127.0.0.1',
      [ENV.gracePeriodMs]: '10000',
      [ENV.databaseUrl]: 'postgres://flotilla_shop_orders:pw@127.0.0.1:5432/flotilla_shop_orders',
    });
    expect(byName.users!.env[ENV.databaseUrl]).toBeUndefined();
  });

  it('gives every service FLOTILLA_SMTP_URL and the gateway, which sends no mail, none', () => {
    expect(byName.orders!.env[ENV.smtpUrl]).toBe('smtp://flotilla:sink-password@127.0.0.1:2525');
    expect(byName.users!.env[ENV.smtpUrl]).toBe('smtp://flotilla:sink-password@127.0.0.1:2525');
    expect(byName.gateway!.env[ENV.smtpUrl]).toBeUndefined();
  });

  it('gives FLOTILLA_BUS_URL only to services with events, not to the others or the gateway', () => {
    expect(byName.orders!.env[ENV.busUrl]).toBe('amqp://shop:bus-password@127.0.0.1:5672');
    expect(byName.users!.env[ENV.busUrl]).toBeUndefined();
    expect(byName.gateway!.env[ENV.busUrl]).toBeUndefined();
  });

  it('gives each version its replicas, entry and env', () => {
    expect(byName.orders!.versions).toEqual({
      v1: { replicas: 1, entry: '/srv/shop/services/orders/src/main.ts', env: {} },
      v2: { replicas: 2, entry: '/srv/shop/services/orders/src/v2.ts', env: { FEATURE: 'on' } },
    });
  });

  it('adds the gateway with its shared public listener and health probes', () => {
    const gateway = byName.gateway!;
    expect(gateway.kind).toBe('gateway');
    expect(gateway.versions).toEqual({ v1: { replicas: 1, entry: '/opt/gateway/main.ts', env: {} } });
    expect(gateway.env).toMatchObject({
      [ENV.service]: 'gateway',
      [ENV.gatewayHost]: '127.0.0.1',
      [ENV.gatewayPort]: '18080',
      [ENV.dataPlaneToken]: 'dp-token',
    });
    expect(gateway.probes.liveness.path).toBe('/healthz');
    expect(gateway.probes.readiness.path).toBe('/readyz');
  });

  it('reports every workload in the status with desired replicas and its own instances', () => {
    const status = buildSystemStatus({
      spec,
      workloads,
      instances: [instance('orders-v1-1', 'ready', 4001), instance('gateway-v1-1', 'ready', 18081)],
      desiredReplicas: (w): Record<string, number> => (w === 'orders' ? { v1: 3, v2: 0 } : {}),
      revision: 7,
      startedAt: '2026-01-01T00:00:00.000Z',
      adminUrl: 'http://127.0.0.1:7070',
      gatewayUrl: 'http://127.0.0.1:18080',
      postgres: { mode: 'external', host: '127.0.0.1', port: 5432 },
      mail: Object.assign({ mode: 'sink', address: '127.0.0.1:2525' } as const, {
        smtpUrl: 'smtp://flotilla:sink-password@127.0.0.1:2525',
      }),
      bus: Object.assign({ kind: 'rabbitmq', address: '127.0.0.1:5672' } as const, {
        url: 'amqp://shop:bus-password@127.0.0.1:5672',
      }),
      ejections: new Map(),
    });
    expect(status).toMatchObject({
      system: 'shop',
      specFile: '/srv/shop/flotilla.yaml',
      revision: 7,
      controlPlane: { url: 'http://127.0.0.1:7070', pid: process.pid },
      gateway: { url: 'http://127.0.0.1:18080' },
    });
    expect(status.mail).toEqual({ mode: 'sink', address: '127.0.0.1:2525' });
    expect(status.bus).toEqual({ kind: 'rabbitmq', address: '127.0.0.1:5672' });
    expect(JSON.stringify(status)).not.toContain('sink-password');
    expect(JSON.stringify(status)).not.toContain('bus-password');
    expect(status.services.map((s) => s.name)).toEqual(['orders', 'users', 'gateway']);
    expect(status.services[0]!.versions).toEqual([
      { name: 'v1', weight: 90, replicas: 3 },
      { name: 'v2', weight: 10, replicas: 0 },
    ]);
    expect(status.services[0]!.instances.map((i) => i.id)).toEqual(['orders-v1-1']);
    expect(status.services[2]).toMatchObject({
      kind: 'gateway',
      versions: [{ name: 'v1', weight: 100, replicas: 1 }],
      instances: [{ id: 'gateway-v1-1' }],
    });
  });

  it('marks in the status each instance some process ejects, with who and until when, and the others not', () => {
    const ejected = { by: ['gateway-v1-1', 'users-v1-1'], until: '2026-01-01T00:00:30.000Z' };
    const status = buildSystemStatus({
      spec,
      workloads,
      instances: [instance('orders-v1-1', 'ready', 4001), instance('orders-v1-2', 'ready', 4002)],
      desiredReplicas: () => ({}),
      revision: 7,
      startedAt: '2026-01-01T00:00:00.000Z',
      adminUrl: 'http://127.0.0.1:7070',
      gatewayUrl: 'http://127.0.0.1:18080',
      postgres: { mode: 'none', host: null, port: null },
      mail: undefined,
      bus: undefined,
      ejections: new Map([['orders-v1-2', ejected]]),
    });
    expect(status.services[0]!.instances.map((i) => [i.id, i.ejected])).toEqual([
      ['orders-v1-1', null],
      ['orders-v1-2', ejected],
    ]);
  });
});

import { randomUUID } from 'node:crypto';
import { createBus, type EventEnvelope, parseEnvelope } from '@flotilla/events';
import { createMeshClient } from '@flotilla/mesh';
import type { MeshClient, Service } from '@flotilla/runtime';
import { PLAINTEXT_MESH, type RoutingTable, serviceRoutesOf } from '@flotilla/spec';
import { buildPaymentsService } from '../../payments/src/app.ts';
import { createExtraDatabase } from '../../../test/support/databases.ts';
import { startTestPostgres } from '../../../test/support/postgres.ts';
import { inOrder } from '../../../test/support/teardown.ts';
import { buildOrdersService } from '../src/app.ts';

/** An answer of the orders service: status, headers, the body as sent and parsed. */
export interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  text: string;
  body: T;
}

/** Who calls: the identity the gateway would vouch for after verifying a token. */
export interface Caller {
  subject: string;
  roles?: string[];
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  as?: Caller;
  headers?: Record<string, string>;
}

/**
 * The orders service on 127.0.0.1 port 0, with the real payments service beside it (reached over a
 * mesh client with a fixed routing table, as under `flotilla up`), each on a database of its own,
 * and a PostgreSQL bus database for the outbox relay.
 */
export interface Shop {
  orders: Service;
  payments: Service;
  call<T = Record<string, unknown>>(path: string, options?: CallOptions): Promise<Answer<T>>;
  /** SQL on the orders database. */
  ordersDb<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** SQL on the payments database. */
  paymentsDb<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Stops payments (a payments outage) and starts it again on the same port. */
  stopPayments(): Promise<void>;
  startPayments(): Promise<void>;
  /** Every event of `types` published on the bus from now on, as a subscriber declared now sees them. */
  listen(types: string[]): Promise<EventEnvelope[]>;
  /** A product created by the admin. */
  product(fields: {
    name: string;
    description?: string;
    price_cents?: number;
    stock: number;
  }): Promise<{ id: string }>;
  stop(): Promise<void>;
}

export const ADMIN: Caller = { subject: 'admin-1', roles: ['admin'] };
export const customer = (): Caller => ({ subject: randomUUID(), roles: ['customer'] });
export const CARDS = {
  approved: '4242 4242 4242 4242',
  declined: '4000000000000002',
  flaky: '4000000000000119',
};

/** Starts the two services on one test PostgreSQL server; `ordersEnv` adds to the orders service's environment. */
export async function startShop(ordersEnv: Record<string, string> = {}): Promise<Shop> {
  const postgres = await startTestPostgres();
  const [ordersDb, paymentsDb, busDb] = await Promise.all(
    ['orders', 'payments', 'bus'].map((name) => createExtraDatabase(postgres.url, name)),
  );
  const dbs = { urls: { orders: ordersDb!.url, payments: paymentsDb!.url, bus: busDb!.url } };
  const env = (database: string, port = 0) => ({
    DATABASE_URL: database,
    FLOTILLA_BUS_URL: dbs.urls.bus!,
    FLOTILLA_SYSTEM: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    FLOTILLA_LOG_LEVEL: 'warn',
    FLOTILLA_GRACE_PERIOD_MS: '2000',
    REQUEST_HASH_KEY: 'test-request-hash-key',
  });
  let payments = buildPaymentsService({ env: env(dbs.urls.payments!) });
  await payments.start();
  const paymentsPort = payments.port;
  const mesh: MeshClient = createMeshClient({
    source: { workload: 'orders', version: 'v1' },
    table: tableWith(paymentsPort),
  });
  const orders = buildOrdersService({ env: { ...env(dbs.urls.orders!), ...ordersEnv }, mesh });
  await orders.start();
  const base = `http://127.0.0.1:${orders.port}`;
  const bus = createBus({ url: dbs.urls.bus, system: 'test' });
  const listeners: { stop(): Promise<void> }[] = [];

  const call = async <T>(path: string, options: CallOptions = {}): Promise<Answer<T>> => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.as) {
      headers['x-flotilla-subject'] = options.as.subject;
      headers['x-flotilla-roles'] = (options.as.roles ?? []).join(',');
    }
    const res = await fetch(base + path, {
      method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : undefined };
  };

  return {
    orders,
    get payments() {
      return payments;
    },
    call,
    ordersDb: async (sql, params) => (await orders.db.query(sql, params)).rows,
    paymentsDb: async (sql, params) => (await payments.db.query(sql, params)).rows,
    async stopPayments() {
      await payments.stop();
    },
    async startPayments() {
      payments = buildPaymentsService({ env: env(dbs.urls.payments!, paymentsPort) });
      await payments.start();
    },
    async listen(types) {
      const subscription = `probe-${randomUUID().slice(0, 8)}`;
      await bus.declare(subscription, types);
      const seen: EventEnvelope[] = [];
      listeners.push(
        await bus.consume(subscription, async (delivery) => {
          seen.push(parseEnvelope(delivery.body));
          await delivery.ack();
        }),
      );
      return seen;
    },
    async product(fields) {
      const res = await call<{ id: string }>('/api/catalog/v1/products', {
        as: ADMIN,
        body: { sku: `sku-${randomUUID().slice(0, 8)}`, price_cents: 1000, description: '', ...fields },
      });
      if (res.status !== 201) throw new Error(`product: ${res.status} ${res.text}`);
      return res.body;
    },
    async stop() {
      await inOrder([
        () => Promise.all(listeners.map((l) => l.stop())),
        () => bus.close(),
        () => orders.stop(),
        () => payments.stop(),
        () => mesh.close(),
        () => Promise.all([ordersDb, paymentsDb, busDb].map((db) => db!.drop())),
        () => postgres.stop(),
      ]);
    },
  };
}

function tableWith(paymentsPort: number): RoutingTable {
  return {
    revision: 1,
    system: 'test',
    services: {
      payments: serviceRoutesOf({
        versions: { v1: { weight: 100, labels: { version: 'v1' } } },
        endpoints: [
          { id: 'payments-v1-1', service: 'payments', version: 'v1', host: '127.0.0.1', port: paymentsPort },
        ],
      }),
    },
    gateway: { listen: { host: '127.0.0.1', port: 0 }, replicas: 1, plugins: {}, routes: [] },
    mesh: PLAINTEXT_MESH,
  };
}

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createExtraDatabase, type ExtraDatabase } from '../../../test/support/databases.ts';
import { eventually } from '../../../test/support/eventually.ts';
import { testClient, testPool } from '../../../test/support/pg-pool.ts';
import { startTestPostgres, type TestPostgres } from '../../../test/support/postgres.ts';
import { inOrder } from '../../../test/support/teardown.ts';
import { createService, type Service } from './service.ts';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
let postgres: TestPostgres;
let ordersDb: ExtraDatabase;
let notificationsDb: ExtraDatabase;
let busDb: ExtraDatabase;
let migrations: string;
let notes: pg.Pool;
const running: Service[] = [];

beforeAll(async () => {
  postgres = await startTestPostgres();
  [ordersDb, notificationsDb, busDb] = await Promise.all([
    createExtraDatabase(postgres.url, 'orders'),
    createExtraDatabase(postgres.url, 'notifications'),
    createExtraDatabase(postgres.url, 'bus'),
  ]);
  migrations = mkdtempSync(join(tmpdir(), 'flotilla-events-'));
  writeFileSync(
    join(migrations, '001_notes.sql'),
    'CREATE TABLE notes (order_id text NOT NULL, event_id uuid NOT NULL, traceparent text)',
  );
  notes = testPool({ connectionString: notificationsDb.url, max: 1 });
});

afterAll(() =>
  inOrder([
    () => Promise.all(running.splice(0).map((s) => s.stop())),
    () => notes?.end(),
    () => Promise.all([ordersDb, notificationsDb, busDb].map((db) => db?.drop())),
    () => postgres?.stop(),
    () => rmSync(migrations, { recursive: true, force: true }),
  ]),
);

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

function env(databaseUrl: string): NodeJS.ProcessEnv {
  return {
    PORT: '0',
    FLOTILLA_SYSTEM: 'shop',
    DATABASE_URL: databaseUrl,
    FLOTILLA_BUS_URL: busDb.url,
    FLOTILLA_LOG_LEVEL: 'warn',
  };
}

/** The producer: POST /orders/:id records the order and publishes order.paid in one transaction. */
async function startOrders(): Promise<Service> {
  const service = createService({
    name: 'orders',
    database: {},
    events: {},
    env: env(ordersDb.url),
    logDestination: { write: () => undefined },
  });
  service.post('/orders/:id', async (ctx) =>
    service.transaction(async (tx) => {
      const event = await service.events.publish(
        tx,
        'order.paid',
        { order_id: ctx.params.id },
        { traceparent: TRACEPARENT },
      );
      return { event_id: event.id };
    }),
  );
  running.push(service);
  await service.start();
  return service;
}

/** The consumer: each order.paid adds a note, after `delayMs` when the order id says so. */
async function startNotifications(entered: string[] = []): Promise<Service> {
  const service = createService({
    name: 'notifications',
    database: { migrationsDir: migrations },
    events: { retry: { initialDelayMs: 50 } },
    env: env(notificationsDb.url),
    logDestination: { write: () => undefined },
  });
  service.events.on<{ order_id: string }>('order.paid', async (event, tx) => {
    entered.push(event.data.order_id);
    if (event.data.order_id.startsWith('slow')) await sleep(500);
    await tx.query('INSERT INTO notes (order_id, event_id, traceparent) VALUES ($1, $2, $3)', [
      event.data.order_id,
      event.id,
      event.traceparent,
    ]);
  });
  running.push(service);
  await service.start();
  return service;
}

async function notesFor(orderId: string): Promise<Record<string, unknown>[]> {
  return (await notes.query('SELECT * FROM notes WHERE order_id = $1', [orderId])).rows;
}

async function metrics(service: Service): Promise<string> {
  return (await fetch(`http://127.0.0.1:${service.port}/metrics`)).text();
}

const orderId = (prefix = 'o') => `${prefix}-${Math.random().toString(36).slice(2, 10)}`;

describe('service events', () => {
  it('delivers an event published in a committed transaction to the other service, whose effect happens once', async () => {
    const [orders, notifications] = await Promise.all([startOrders(), startNotifications()]);
    const id = orderId();
    const res = await fetch(`http://127.0.0.1:${orders.port}/orders/${id}`, { method: 'POST' });
    const { event_id } = (await res.json()) as { event_id: string };

    await eventually(async () =>
      expect(await notesFor(id)).toEqual([{ order_id: id, event_id, traceparent: TRACEPARENT }]),
    );
    await sleep(300);
    expect(await notesFor(id)).toHaveLength(1);
    expect(await metrics(orders)).toContain('flotilla_events_published_total{type="order.paid"} 1');
    expect(await metrics(orders)).toMatch(/flotilla_outbox_pending 0/);
    expect(await metrics(notifications)).toContain(
      'flotilla_events_consumed_total{type="order.paid",outcome="processed"} 1',
    );
  });

  it('publishes nothing from a transaction that rolled back', async () => {
    const [orders] = await Promise.all([startOrders(), startNotifications()]);
    const id = orderId();
    const failed = orders.transaction(async (tx) => {
      await orders.events.publish(tx, 'order.paid', { order_id: id });
      throw new Error('payment declined');
    });
    await expect(failed).rejects.toThrow('payment declined');

    await sleep(500);
    expect(await notesFor(id)).toEqual([]);
    const { rows } = await orders.db.query('SELECT count(*)::int AS n FROM flotilla_outbox');
    expect(rows[0].n).toBe(0);
  });

  it('stop() lets the handler in flight commit and ack before the service stops', async () => {
    const entered: string[] = [];
    const [orders, notifications] = await Promise.all([startOrders(), startNotifications(entered)]);
    const id = orderId('slow');
    await fetch(`http://127.0.0.1:${orders.port}/orders/${id}`, { method: 'POST' });
    await eventually(() => expect(entered).toContain(id));

    expect(await notifications.stop()).toBe(true);
    expect(await notesFor(id)).toHaveLength(1);
    // Acked, not left on the bus to be delivered again after a lease runs out.
    const bus = testClient({ connectionString: busDb.url });
    await bus.connect();
    const { rows } = await bus.query(
      "SELECT count(*)::int AS n FROM flotilla_bus_messages WHERE subscription = 'notifications'",
    );
    await bus.end();
    expect(rows[0].n).toBe(0);
  });

  it('starts three replicas at once on a fresh database, creating the event tables once', async () => {
    const fresh = await createExtraDatabase(postgres.url, 'replicas');
    try {
      const replicas = [1, 2, 3].map(() =>
        createService({
          name: 'payments',
          database: {},
          events: {},
          env: env(fresh.url),
          logDestination: { write: () => undefined },
        }),
      );
      running.push(...replicas);
      await Promise.all(replicas.map((r) => r.start()));
      expect(replicas.every((r) => r.ready)).toBe(true);
    } finally {
      await Promise.all(running.splice(0).map((s) => s.stop()));
      await fresh.drop();
    }
  });

  it('runs the transaction at the isolation asked for, commits what resolves and rolls back what throws', async () => {
    const orders = await startOrders();
    await orders.db.query('CREATE TABLE IF NOT EXISTS marks (name text)');
    const level = await orders.transaction(
      async (tx) => {
        await tx.query("INSERT INTO marks VALUES ('kept')");
        return (await tx.query('SHOW transaction_isolation')).rows[0].transaction_isolation;
      },
      { isolation: 'serializable' },
    );
    await orders
      .transaction(async (tx) => {
        await tx.query("INSERT INTO marks VALUES ('dropped')");
        throw new Error('undo');
      })
      .catch(() => undefined);

    expect(level).toBe('serializable');
    const { rows } = await orders.db.query('SELECT name FROM marks');
    expect(rows.map((r) => r.name)).toEqual(['kept']);
  });
});

describe('service events set-up', () => {
  it('refuses events without a database, since the outbox and inbox live there', () => {
    expect(() => createService({ name: 'orders', events: {}, env: {} })).toThrow(
      expect.objectContaining({
        code: 'FLOTILLA_CONFIG_INVALID',
        message: expect.stringContaining('database: {}'),
      }),
    );
  });

  it('stops start-up when FLOTILLA_BUS_URL is missing, saying what to set', () => {
    expect(() =>
      createService({
        name: 'orders',
        database: {},
        events: {},
        env: { DATABASE_URL: 'postgres://127.0.0.1/x' },
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'FLOTILLA_CONFIG_MISSING',
        message: expect.stringMatching(
          /FLOTILLA_BUS_URL is not set: set events: for the service in flotilla.yaml/,
        ),
      }),
    );
  });

  it('says how to get events when a service without them uses service.events', () => {
    const service = createService({ name: 'plain', env: {} });
    expect(() => service.events).toThrow(expect.objectContaining({ code: 'FLOTILLA_NO_EVENTS' }));
  });

  it('refuses a second handler for one type, and a type that is not dot-separated lowercase words', () => {
    const service = createService({
      name: 'orders',
      database: {},
      events: {},
      env: { DATABASE_URL: 'postgres://127.0.0.1/x', FLOTILLA_BUS_URL: 'postgres://127.0.0.1/bus' },
    });
    service.events.on('order.paid', async () => undefined);
    expect(() => service.events.on('order.paid', async () => undefined)).toThrow(/already registered/);
    expect(() => service.events.on('Paid', async () => undefined)).toThrow(
      expect.objectContaining({ code: 'EVENTS_TYPE_INVALID' }),
    );
  });
});

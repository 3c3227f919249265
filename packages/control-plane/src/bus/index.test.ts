import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import {
  type Bus,
  createBus,
  createEnvelope,
  createServiceTables,
  type EventEnvelope,
} from '@flotilla/events';
import { parseSpec, type SystemSpec } from '@flotilla/spec';
import amqp from 'amqplib';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createExtraDatabase, type ExtraDatabase } from '../../../../test/support/databases.ts';
import { eventually } from '../../../../test/support/eventually.ts';
import { testPool } from '../../../../test/support/pg-pool.ts';
import { startTestPostgres, type TestPostgres } from '../../../../test/support/postgres.ts';
import { RABBITMQ, rabbitmqReachable } from '../../../../test/support/rabbitmq.ts';
import { type ApiBackend, ApiError, type ApiServer, startApiServer } from '../api/index.ts';
import type { DeadLetterList, DeadLetterReplay } from '../types.ts';
import { BusError, type BusHandle, startBus } from './index.ts';

const log = pino({ level: 'silent' });
const timeouts = { startTimeoutMs: 10_000, connectTimeoutMs: 5_000 };
const rabbitUp = await rabbitmqReachable();

let postgres: TestPostgres;
/** What each test started, stopped after it in reverse order. */
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  postgres = await startTestPostgres();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

afterAll(async () => {
  await postgres?.stop();
});

/** A system with a producer (orders) and two consumers of order.paid, on the bus of `bus`. */
function shopSpec(bus: string, system = `t${randomBytes(4).toString('hex')}`): SystemSpec {
  return parseSpec(
    `
name: ${system}
services:
  orders: { path: orders, database: true, events: { publishes: [order.paid] } }
  notifications: { path: notifications, database: true, events: { subscribes: [order.paid, order.cancelled] } }
  shipping: { path: shipping, database: true, events: { subscribes: [order.paid] } }
  web: { path: web }
infrastructure:
  bus: ${bus}
`,
    { dir: '/srv/shop' },
  );
}

async function database(prefix: string): Promise<ExtraDatabase> {
  const db = await createExtraDatabase(postgres.url, prefix);
  cleanups.push(() => db.drop());
  return db;
}

async function started(spec: SystemSpec, options: Partial<Parameters<typeof startBus>[1]> = {}) {
  const handle = await startBus(spec, {
    busUrl: undefined,
    databaseUrls: {},
    log,
    progress: () => {},
    timeouts,
    ...options,
  });
  cleanups.push(() => handle.stop());
  return handle;
}

function client(url: string, system: string): Bus {
  const bus = createBus({ url, system });
  cleanups.push(() => bus.close());
  return bus;
}

/** The envelopes `subscription` receives from now on, acked as they come. */
async function received(bus: Bus, subscription: string): Promise<{ body: EventEnvelope; attempt: number }[]> {
  const seen: { body: EventEnvelope; attempt: number }[] = [];
  const consumer = await bus.consume(subscription, async (delivery) => {
    seen.push({ body: delivery.body as EventEnvelope, attempt: delivery.attempt });
    await delivery.ack();
  });
  cleanups.push(() => consumer.stop());
  return seen;
}

const paid = () => createEnvelope({ type: 'order.paid', source: '/shop/orders', data: { orderId: 'o-1' } });

describe('startBus', () => {
  it('connects nothing and declares nothing when no service has events', async () => {
    const spec = parseSpec('name: plain\nservices:\n  web: { path: web }\n', { dir: '/srv/plain' });
    const progress: string[] = [];
    const handle = await started(spec, { progress: (m) => progress.push(m) });
    expect(handle.url).toBeUndefined();
    expect(handle.status).toEqual({ kind: 'none', address: null });
    expect(handle.deadLetters.services).toEqual([]);
    expect(progress).toEqual([]);
  });

  it('declares every subscription on the PostgreSQL bus before any consumer runs, so an event published then still reaches each', async () => {
    const busDb = await database('bus');
    const spec = shopSpec('{ kind: postgres }');
    const progress: string[] = [];
    const handle = await started(spec, { busUrl: busDb.url, progress: (m) => progress.push(m) });
    const { hostname: host, port } = new URL(postgres.url);
    expect(handle.url).toBe(busDb.url);
    expect(handle.status).toEqual({ kind: 'postgres', address: `${host}:${port}` });
    expect(progress).toEqual([
      `bus: postgres on ${host}:${port}, subscriptions declared: notifications, shipping`,
    ]);

    // The producer publishes while no consumer exists yet, as when orders is ready before notifications.
    const producer = client(busDb.url, spec.name);
    const event = paid();
    await producer.publish(event);
    const consumers = client(busDb.url, spec.name);
    const notifications = await received(consumers, 'notifications');
    const shipping = await received(consumers, 'shipping');
    await eventually(() => {
      expect(notifications.map((d) => d.body.id)).toEqual([event.id]);
      expect(shipping.map((d) => d.body.id)).toEqual([event.id]);
    });
  });

  it('fails start-up within a few seconds on a RabbitMQ that refuses connections, naming it without its password', async () => {
    const spec = shopSpec('{ kind: rabbitmq, url: "amqp://guest:s3cret@127.0.0.1:1" }');
    const begun = performance.now();
    const failure = await startBus(spec, {
      busUrl: undefined,
      databaseUrls: {},
      log,
      progress: () => {},
      timeouts,
    }).catch((e: unknown) => e);
    expect(performance.now() - begun).toBeLessThan(timeouts.startTimeoutMs);
    expect(failure).toBeInstanceOf(BusError);
    expect((failure as BusError).code).toBe('FLOTILLA_BUS_UNREACHABLE');
    const { message } = failure as BusError;
    expect(message).toContain('RabbitMQ at amqp://guest:***@127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:1)');
    expect(message).toContain('start RabbitMQ there, fix infrastructure.bus.url');
    expect(message).toContain('infrastructure.bus.kind: postgres');
    expect(message).not.toContain('s3cret');
  });

  it('gives up on a RabbitMQ that accepts connections but never answers once startTimeoutMs has passed', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });
    const { port } = silent.address() as { port: number };
    const spec = shopSpec(`{ kind: rabbitmq, url: "amqp://guest:s3cret@127.0.0.1:${port}" }`);
    const begun = performance.now();
    const failure = await startBus(spec, {
      busUrl: undefined,
      databaseUrls: {},
      log,
      progress: () => {},
      timeouts: { ...timeouts, startTimeoutMs: 300 },
    }).catch((e: unknown) => e);
    expect(performance.now() - begun).toBeLessThan(2_000);
    expect((failure as BusError).code).toBe('FLOTILLA_BUS_UNREACHABLE');
    expect((failure as BusError).message).toContain(`127.0.0.1:${port} (no answer within 300 ms)`);
    expect((failure as BusError).message).not.toContain('s3cret');
  });
});

// Skipped only where RabbitMQ at 127.0.0.1:5672 is unreachable (a laptop without it): this needs a
// real broker; rabbitmqReachable() prints that it was skipped and why.
describe.skipIf(!rabbitUp)('startBus on RabbitMQ', () => {
  it('declares the queues before any consumer runs and shows the broker without its credentials', async () => {
    const spec = shopSpec('{ kind: rabbitmq }');
    cleanups.push(() => removeTopology(spec.name, ['notifications', 'shipping']));
    const handle = await started(spec);
    expect(handle.url).toBe(RABBITMQ.url);
    expect(handle.status).toEqual({ kind: 'rabbitmq', address: '127.0.0.1:5672' });
    expect(JSON.stringify(handle.status)).not.toContain('guest');

    const event = paid();
    await client(RABBITMQ.url, spec.name).publish(event);
    const notifications = await received(client(RABBITMQ.url, spec.name), 'notifications');
    await eventually(() => expect(notifications.map((d) => d.body.id)).toEqual([event.id]));
  });
});

describe('dead letters', () => {
  const letterSql = `INSERT INTO flotilla_dead_letters (subscription, envelope, error, attempts, failed_at)
    VALUES ($1, $2::jsonb, $3, $4, $5) RETURNING id`;

  /** A consuming service's database with its event tables, as its runtime leaves them, and a pool on it. */
  async function serviceDatabase(name: string) {
    const db = await database(name);
    const pool = testPool({ connectionString: db.url, max: 1 });
    cleanups.push(() => pool.end());
    await createServiceTables(pool);
    const insert = async (envelope: unknown, error: string, failedAt: string) =>
      (
        await pool.query<{ id: string }>(letterSql, [
          'notifications',
          JSON.stringify(envelope),
          error,
          10,
          failedAt,
        ])
      ).rows[0]!.id;
    const ours = async () =>
      (
        await pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'flotilla-control-plane' AND datname = current_database()",
        )
      ).rows[0]!.n;
    return { db, pool, insert, ours };
  }

  /** The admin API over the bus's dead letters, the only part of the backend these routes read. */
  async function api(handle: BusHandle): Promise<ApiServer> {
    const server = await startApiServer({
      host: '127.0.0.1',
      port: 0,
      adminToken: 'admin-token',
      dataPlaneToken: 'data-plane-token',
      backend: { deadLetters: () => handle.deadLetters } as Partial<ApiBackend> as ApiBackend,
      watch: { handle: (_, res) => res.end() },
      limits: {
        bodyBytes: 16 * 1024,
        maxReplicas: 64,
        defaultTail: 200,
        maxTail: 10_000,
        followBufferBytes: 1 << 20,
        defaultMailLimit: 50,
        maxMailLimit: 1000,
        defaultDeadLetterLimit: 100,
        maxDeadLetterLimit: 1000,
      },
      closeGraceMs: 1_000,
      log,
    });
    cleanups.push(() => server.close());
    return server;
  }

  async function call<T>(server: ApiServer, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${server.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: 'Bearer admin-token', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as T;
  }

  it("lists a consuming service's dead letters from its own database, replays one onto the bus and deletes it", async () => {
    const busDb = await database('bus');
    const notifications = await serviceDatabase('notifications');
    const orders = await database('orders');
    const event = paid();
    const first = await notifications.insert(
      event,
      'Error: the SMTP relay refused\n    at send (mailer.ts:12)',
      '2026-01-01T00:00:01.000Z',
    );
    const second = await notifications.insert(
      'not an envelope',
      'EventsError: not JSON',
      '2026-01-01T00:00:02.000Z',
    );
    const spec = shopSpec('{ kind: postgres }');
    const handle = await started(spec, {
      busUrl: busDb.url,
      databaseUrls: { orders: orders.url, notifications: notifications.db.url },
    });
    // orders only publishes and shipping has no database here: neither holds dead letters to show.
    expect(handle.deadLetters.services).toEqual(['notifications']);
    expect(await notifications.ours()).toBe(0);
    const server = await api(handle);

    const listed = await call<DeadLetterList>(server, '/v1/dead-letters');
    expect(listed.deadLetters).toEqual([
      {
        service: 'notifications',
        id: first,
        subscription: 'notifications',
        eventId: event.id,
        type: 'order.paid',
        error: 'Error: the SMTP relay refused\n    at send (mailer.ts:12)',
        attempts: 10,
        failedAt: '2026-01-01T00:00:01.000Z',
      },
      expect.objectContaining({ id: second, eventId: null, type: null, error: 'EventsError: not JSON' }),
    ]);
    expect(await notifications.ours()).toBeGreaterThanOrEqual(1);
    expect(await notifications.ours()).toBeLessThanOrEqual(2);
    expect(
      (await call<DeadLetterList>(server, '/v1/dead-letters?service=notifications&limit=1')).deadLetters,
    ).toEqual([listed.deadLetters[0]]);

    const delivered = await received(client(busDb.url, spec.name), 'notifications');
    const replayed = await call<DeadLetterReplay>(server, '/v1/dead-letters/replay', {
      service: 'notifications',
      ids: [first, '999'],
    });
    expect(replayed).toEqual({ replayed: [first] });
    await eventually(() => expect(delivered).toEqual([{ body: event, attempt: 1 }]));
    expect((await call<DeadLetterList>(server, '/v1/dead-letters')).deadLetters.map((d) => d.id)).toEqual([
      second,
    ]);

    const rest = await call<DeadLetterReplay>(server, '/v1/dead-letters/replay', {
      service: 'notifications',
      all: true,
    });
    expect(rest).toEqual({ replayed: [second] });
    expect((await call<DeadLetterList>(server, '/v1/dead-letters')).deadLetters).toEqual([]);

    await handle.stop();
    await eventually(async () => expect(await notifications.ours()).toBe(0));
  });

  it('lists nothing for a consuming service that has never started, whose tables do not exist yet', async () => {
    const busDb = await database('bus');
    const fresh = await database('notifications');
    const handle = await started(shopSpec('{ kind: postgres }'), {
      busUrl: busDb.url,
      databaseUrls: { notifications: fresh.url },
    });
    expect(await handle.deadLetters.list(undefined, 100)).toEqual([]);
    expect(await handle.deadLetters.replay('notifications', 'all')).toEqual([]);
  });

  it('answers 503 saying what to check when a service database cannot be reached', async () => {
    const busDb = await database('bus');
    const gone = new URL(postgres.url);
    gone.port = '1';
    const handle = await started(shopSpec('{ kind: postgres }'), {
      busUrl: busDb.url,
      databaseUrls: { notifications: gone.href },
    });
    const failure = await handle.deadLetters.list('notifications', 10).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).code).toBe('UNAVAILABLE');
    expect((failure as ApiError).message).toContain('Could not read the dead letters of "notifications"');
    expect((failure as ApiError).message).toContain('check PostgreSQL with flotilla status');
  });
});

/** Deletes the queues of the subscriptions and the exchange of `system` from the test broker. */
async function removeTopology(system: string, subscriptions: readonly string[]): Promise<void> {
  const connection = await amqp.connect(RABBITMQ.url);
  try {
    const channel = await connection.createChannel();
    for (const subscription of subscriptions) await channel.deleteQueue(`flotilla.${system}.${subscription}`);
    await channel.deleteExchange(`flotilla.${system}.events`);
  } finally {
    await connection.close();
  }
}

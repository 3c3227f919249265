import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createExtraDatabase, type ExtraDatabase } from '../../../../test/support/databases.ts';
import { eventually } from '../../../../test/support/eventually.ts';
import { testPool } from '../../../../test/support/pg-pool.ts';
import { startTestPostgres, type TestPostgres } from '../../../../test/support/postgres.ts';
import { RABBITMQ, rabbitmqReachable } from '../../../../test/support/rabbitmq.ts';
import { startTcpProxy } from '../../../../test/support/tcp-proxy.ts';
import { inOrder } from '../../../../test/support/teardown.ts';
import type { Bus } from '../bus.ts';
import type { OutboxMessage } from '../diagnostics.ts';
import { createEnvelope, type EventEnvelope } from '../envelope.ts';
import { PostgresBus } from '../postgres/index.ts';
import { RabbitMqBus } from '../rabbitmq/index.ts';
import { exchangeName, queueName } from '../rabbitmq/topology.ts';
import { createServiceTables } from '../service-tables.ts';
import { inTransaction } from '../transaction.ts';
import { OutboxRelay } from './relay.ts';
import { writeToOutbox } from './write.ts';

const rabbitUp = await rabbitmqReachable();
const system = `test-${randomBytes(4).toString('hex')}`;
let postgres: TestPostgres;
let serviceDb: ExtraDatabase;
let busDb: ExtraDatabase;
let db: pg.Pool;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  postgres = await startTestPostgres();
  [serviceDb, busDb] = await Promise.all([
    createExtraDatabase(postgres.url, 'producer'),
    createExtraDatabase(postgres.url, 'bus'),
  ]);
  db = testPool({ connectionString: serviceDb.url });
  await createServiceTables(db);
});

afterAll(() =>
  inOrder([() => db?.end(), () => Promise.all([serviceDb?.drop(), busDb?.drop()]), () => postgres?.stop()]),
);

beforeEach(async () => {
  await db.query('DELETE FROM flotilla_outbox');
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function track<T extends { close(): Promise<void> } | { stop(): Promise<void> }>(thing: T): T {
  cleanups.push(() => ('close' in thing ? thing.close() : thing.stop()));
  return thing;
}

const newType = () => `t${randomBytes(4).toString('hex')}.written`;
const newSubscription = () => `sub-${randomBytes(4).toString('hex')}`;

/** Writes events of `type` in one transaction, which rolls back when `rollback` is set. */
async function write(type: string, count = 1, rollback = false): Promise<EventEnvelope[]> {
  const written: EventEnvelope[] = [];
  await inTransaction(db, async (tx) => {
    for (let i = 0; i < count; i++) {
      const envelope = createEnvelope({ type, source: '/test/producer', data: { i } });
      await writeToOutbox(tx, envelope);
      written.push(envelope);
    }
    if (rollback) throw new Error('rolled back on purpose');
  }).catch((err: Error) => {
    if (!rollback) throw err;
  });
  return written;
}

/** Ids of the events `sub` receives, in arrival order. */
async function receive(bus: Bus, sub: string, type: string): Promise<string[]> {
  const ids: string[] = [];
  await bus.declare(sub, [type]);
  await bus.consume(sub, async (d) => {
    ids.push((d.body as EventEnvelope).id);
    await d.ack();
  });
  return ids;
}

async function pending(): Promise<number> {
  const { rows } = await db.query('SELECT count(*)::int AS n FROM flotilla_outbox');
  return rows[0].n;
}

describe('outbox relay', () => {
  it('never publishes an event whose transaction rolled back, and publishes the committed one', async () => {
    const bus = track(new PostgresBus({ url: busDb.url }));
    const [sub, type] = [newSubscription(), newType()];
    const received = await receive(bus, sub, type);
    track(new OutboxRelay({ db, bus })).start();

    await write(type, 1, true);
    const [committed] = await write(type);
    await eventually(() => expect(received).toEqual([committed!.id]));
    await sleep(300);
    expect(received).toEqual([committed!.id]);
    await eventually(async () => expect(await pending()).toBe(0));
  });

  it('publishes a committed event when the commit notifies, not at its next poll', async () => {
    const bus = track(new PostgresBus({ url: busDb.url }));
    const [sub, type] = [newSubscription(), newType()];
    const received = await receive(bus, sub, type);
    const relay = track(new OutboxRelay({ db, bus, pollIntervalMs: 60_000 }));
    relay.start();
    await sleep(200);

    const written = await write(type, 3);
    await eventually(() => expect([...received].sort()).toEqual(written.map((e) => e.id).sort()), 2_000);
  });

  it('lets two relays on one outbox publish each event exactly once, sharing the work', async () => {
    const bus = track(new PostgresBus({ url: busDb.url }));
    const published = new Map<string, number>();
    const counting = (relayed: string[]): Bus => ({
      declare: (s, t) => bus.declare(s, t),
      send: (s, e, o) => bus.send(s, e, o),
      consume: (s, d, o) => bus.consume(s, d, o),
      close: () => bus.close(),
      async publish(envelope) {
        published.set(envelope.id, (published.get(envelope.id) ?? 0) + 1);
        relayed.push(envelope.id);
        await sleep(2);
        await bus.publish(envelope);
      },
    });
    const written = await write(newType(), 200);
    const byFirst: string[] = [];
    const bySecond: string[] = [];
    const relays = [byFirst, bySecond].map(
      (relayed) => new OutboxRelay({ db, bus: counting(relayed), batchSize: 20 }),
    );
    for (const relay of relays) track(relay).start();

    await eventually(async () => expect(await pending()).toBe(0), 10_000);
    expect(published.size).toBe(written.length);
    expect([...published.values()].every((n) => n === 1)).toBe(true);
    expect(byFirst.length).toBeGreaterThan(0);
    expect(bySecond.length).toBeGreaterThan(0);
  });

  it('publishes again an event whose confirm was lost, so it arrives twice, and every other event once', async () => {
    const bus = track(new PostgresBus({ url: busDb.url }));
    const [sub, type] = [newSubscription(), newType()];
    const received = await receive(bus, sub, type);
    let lost: string | undefined;
    // The bus takes the first event, then the connection drops before its confirm comes back.
    const losingAConfirm: Bus = {
      declare: (s, t) => bus.declare(s, t),
      send: (s, e, o) => bus.send(s, e, o),
      consume: (s, d, o) => bus.consume(s, d, o),
      close: () => bus.close(),
      async publish(envelope) {
        await bus.publish(envelope);
        if (lost !== undefined) return;
        lost = envelope.id;
        throw new Error('connection lost before the confirm');
      },
    };
    const relay = track(new OutboxRelay({ db, bus: losingAConfirm }));

    const written = await write(type, 3);
    relay.start();
    await eventually(async () => expect(await pending()).toBe(0));
    await eventually(() => expect(received).toHaveLength(4));
    const times = (id: string) => received.filter((r) => r === id).length;
    expect(written.map((e) => times(e.id))).toEqual(written.map((e) => (e.id === lost ? 2 : 1)));
  });

  const backends = [
    {
      name: 'PostgreSQL',
      skip: false,
      server: () => {
        const url = new URL(busDb.url);
        return { host: url.hostname, port: Number(url.port || 5432) };
      },
      create: (via?: { host: string; port: number }) => {
        const url = new URL(busDb.url);
        if (via) {
          url.hostname = via.host;
          url.port = String(via.port);
        }
        return new PostgresBus({ url: url.toString() });
      },
    },
    {
      name: 'RabbitMQ',
      // Skipped only where RabbitMQ at 127.0.0.1:5672 is unreachable; rabbitmqReachable() says so.
      skip: !rabbitUp,
      server: () => ({ host: RABBITMQ.host, port: RABBITMQ.port }),
      create: (via?: { host: string; port: number }) =>
        new RabbitMqBus({ url: via ? `amqp://guest:guest@${via.host}:${via.port}` : RABBITMQ.url, system }),
    },
  ];

  for (const backend of backends) {
    it.skipIf(backend.skip)(
      `keeps events in the outbox while the ${backend.name} bus is cut off, and publishes all of them once it is back`,
      async () => {
        const proxy = track(await startTcpProxy(backend.server()));
        const [sub, type] = [newSubscription(), newType()];
        const consumerBus = track(backend.create());
        const received = await receive(consumerBus, sub, type);
        if (backend.name === 'RabbitMQ') {
          cleanups.unshift(() => removeQueue(sub));
        }
        const relayBus = track(backend.create(proxy));
        const relay = track(new OutboxRelay({ db, bus: relayBus }));
        const reported: number[] = [];
        const onOutbox = (message: unknown) => {
          const m = message as OutboxMessage;
          if (m.relay === relay) reported.push(m.pending);
        };
        subscribe('flotilla:events:outbox', onOutbox);
        cleanups.push(async () => unsubscribe('flotilla:events:outbox', onOutbox));
        relay.start();
        const [first] = await write(type);
        await eventually(() => expect(received).toEqual([first!.id]));
        // Delivered is not yet confirmed: the relay deletes the row a moment later. A cut before that
        // loses the confirm, and the relay rightly publishes the event again (it was in flight).
        await eventually(async () => expect(await pending()).toBe(0));

        proxy.cut();
        const during = await write(type, 5);
        await sleep(700);
        expect(await pending()).toBe(5);
        expect(received).toEqual([first!.id]);
        expect(reported).toContain(5);

        proxy.restore();
        const all = [first!, ...during].map((e) => e.id).sort();
        await eventually(() => expect([...received].sort()).toEqual(all), 15_000);
        await eventually(async () => expect(await pending()).toBe(0));
        await eventually(() => expect(reported.at(-1)).toBe(0));
        // Nothing was in flight at the cut, so nothing arrived twice.
        expect([...received].sort()).toEqual(all);
      },
    );
  }
});

async function removeQueue(sub: string): Promise<void> {
  const connection = await amqp.connect(RABBITMQ.url);
  try {
    const ch = await connection.createChannel();
    await ch.deleteQueue(queueName(system, sub));
    await ch.deleteExchange(exchangeName(system));
  } finally {
    await connection.close();
  }
}

import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createExtraDatabase, type ExtraDatabase } from '../../../../test/support/databases.ts';
import { eventually } from '../../../../test/support/eventually.ts';
import { testPool } from '../../../../test/support/pg-pool.ts';
import { startTestPostgres, type TestPostgres } from '../../../../test/support/postgres.ts';
import { startTcpProxy, type TcpProxy } from '../../../../test/support/tcp-proxy.ts';
import { inOrder } from '../../../../test/support/teardown.ts';
import { listDeadLetters, replayDeadLetters } from '../dead-letters.ts';
import type { ConsumedMessage, ConsumeOutcome } from '../diagnostics.ts';
import { createEnvelope, type EventEnvelope } from '../envelope.ts';
import type { EventHandler } from '../handler.ts';
import type { RetryPolicy } from '../options.ts';
import { PostgresBus } from '../postgres/index.ts';
import { createServiceTables } from '../service-tables.ts';
import { InboxConsumer } from './consumer.ts';

let postgres: TestPostgres;
let serviceDb: ExtraDatabase;
let busDb: ExtraDatabase;
let db: pg.Pool;
let bus: PostgresBus;
const cleanups: (() => Promise<unknown>)[] = [];
const outcomes = new Map<object, ConsumeOutcome[]>();
const onConsumed = (message: unknown) => {
  const { consumer, outcome } = message as ConsumedMessage;
  outcomes.set(consumer, [...(outcomes.get(consumer) ?? []), outcome]);
};

beforeAll(async () => {
  postgres = await startTestPostgres();
  [serviceDb, busDb] = await Promise.all([
    createExtraDatabase(postgres.url, 'consumer'),
    createExtraDatabase(postgres.url, 'bus'),
  ]);
  db = testPool({ connectionString: serviceDb.url });
  bus = new PostgresBus({ url: busDb.url });
  await createServiceTables(db);
  await db.query('CREATE TABLE effects (event_id uuid NOT NULL, note text)');
  subscribe('flotilla:events:consumed', onConsumed);
});

afterAll(() =>
  inOrder([
    () => unsubscribe('flotilla:events:consumed', onConsumed),
    () => bus?.close(),
    () => db?.end(),
    () => Promise.all([serviceDb?.drop(), busDb?.drop()]),
    () => postgres?.stop(),
  ]),
);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await db.query('DELETE FROM flotilla_dead_letters');
});

/** A started consumer of a fresh subscription receiving `type`, with its outcomes. */
async function consume(
  type: string,
  handler: EventHandler,
  retry: Partial<RetryPolicy> = {},
  database: pg.Pool = db,
): Promise<{ sub: string; outcomes: () => ConsumeOutcome[]; consumer: InboxConsumer }> {
  const sub = `sub-${randomBytes(4).toString('hex')}`;
  await bus.declare(sub, [type]);
  const consumer = new InboxConsumer({
    db: database,
    bus,
    subscription: sub,
    handlers: new Map([[type, handler]]),
    retry,
  });
  await consumer.start();
  cleanups.push(() => consumer.stop());
  return { sub, consumer, outcomes: () => outcomes.get(consumer) ?? [] };
}

const newType = () => `t${randomBytes(4).toString('hex')}.arrived`;
const event = (type: string) => createEnvelope({ type, source: '/test/producer', data: { n: 1 } });
const effect: EventHandler = async (e, tx) => {
  await tx.query('INSERT INTO effects (event_id) VALUES ($1)', [e.id]);
};

async function effectsOf(e: EventEnvelope): Promise<number> {
  const { rows } = await db.query('SELECT count(*)::int AS n FROM effects WHERE event_id = $1', [e.id]);
  return rows[0].n;
}

/** The service's database behind a TCP proxy that a test can cut, as an outage would. */
async function proxiedDatabase(): Promise<{ proxy: TcpProxy; proxied: pg.Pool }> {
  const url = new URL(serviceDb.url);
  const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.hostname = proxy.host;
  url.port = String(proxy.port);
  const proxied = testPool({ connectionString: url.toString() });
  cleanups.push(
    () => proxy.close(),
    () => proxied.end(),
  );
  return { proxy, proxied };
}

describe('inbox consumer', () => {
  it('applies the effect of an event delivered twice only once', async () => {
    const type = newType();
    const { sub, outcomes } = await consume(type, effect);
    const e = event(type);
    await bus.send(sub, e);
    await eventually(() => expect(outcomes()).toEqual(['processed']));
    await bus.send(sub, e);

    await eventually(() => expect(outcomes()).toEqual(['processed', 'duplicate']));
    expect(await effectsOf(e)).toBe(1);
  });

  it('retries a failing handler after growing delays, and applies its effect once when it succeeds', async () => {
    const type = newType();
    const calls: number[] = [];
    const { sub, outcomes } = await consume(
      type,
      async (e, tx) => {
        calls.push(Date.now());
        await effect(e, tx);
        if (calls.length < 3) throw new Error('downstream is down');
      },
      { initialDelayMs: 100, maxDelayMs: 1_000 },
    );
    const e = event(type);
    await bus.send(sub, e);

    await eventually(() => expect(outcomes()).toEqual(['retried', 'retried', 'processed']));
    expect(await effectsOf(e)).toBe(1);
    // 100 ms, then 200 ms, each less at most 20 % of jitter.
    expect(calls[1]! - calls[0]!).toBeGreaterThanOrEqual(80);
    expect(calls[2]! - calls[1]!).toBeGreaterThanOrEqual(160);
  });

  it('rolls back what a failing handler wrote', async () => {
    const type = newType();
    const { sub, outcomes } = await consume(
      type,
      async (e, tx) => {
        await effect(e, tx);
        throw new Error('fails after writing');
      },
      { maxAttempts: 1 },
    );
    const e = event(type);
    await bus.send(sub, e);

    await eventually(() => expect(outcomes()).toEqual(['dead_lettered']));
    expect(await effectsOf(e)).toBe(0);
  });

  it('moves an event to the dead letters after maxAttempts, and processes it once when replayed', async () => {
    const type = newType();
    let broken = true;
    const { sub, outcomes } = await consume(
      type,
      async (e, tx) => {
        if (broken) throw new Error('card processor unreachable');
        await effect(e, tx);
      },
      { maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 50 },
    );
    const e = event(type);
    await bus.send(sub, e);

    await eventually(() => expect(outcomes()).toEqual(['retried', 'retried', 'dead_lettered']));
    const [dead] = await listDeadLetters(db);
    expect(dead).toMatchObject({ subscription: sub, envelope: e, attempts: 3 });
    expect(dead?.error).toBe('Error: card processor unreachable');

    broken = false;
    const replayed = await replayDeadLetters(db, bus);
    expect(replayed.map((d) => d.id)).toEqual([dead!.id]);
    await eventually(() => expect(outcomes().at(-1)).toBe('processed'));
    expect(await effectsOf(e)).toBe(1);
    expect(await listDeadLetters(db)).toEqual([]);
    expect(await replayDeadLetters(db, bus)).toEqual([]);
  });

  it('moves an envelope that does not parse, and an event no handler takes, straight to the dead letters', async () => {
    const type = newType();
    const { sub, outcomes } = await consume(type, effect);
    await bus.send(sub, { not: 'an envelope' } as unknown as EventEnvelope);
    const unhandled = event(newType());
    await bus.send(sub, unhandled);

    await eventually(() => expect(outcomes()).toEqual(['dead_lettered', 'dead_lettered']));
    // Both are handled at once, so their rows may come in either order.
    const dead = await listDeadLetters(db);
    const garbage = dead.find((d) => !(d.envelope as { id?: string }).id);
    const noHandler = dead.find((d) => (d.envelope as EventEnvelope).id === unhandled.id);
    expect(garbage).toMatchObject({ envelope: { not: 'an envelope' }, attempts: 1 });
    expect(garbage?.error).toMatch(/^EventsError: Not a Flotilla event envelope/);
    expect(noHandler).toMatchObject({ envelope: unhandled, attempts: 1 });
    expect(noHandler?.error).toContain(`no handler for ${unhandled.type}`);
  });

  it('waits out its own database being unreachable instead of dead-lettering, and applies the effect once it is back', async () => {
    const { proxy, proxied } = await proxiedDatabase();
    const type = newType();
    const { sub, outcomes } = await consume(
      type,
      effect,
      { maxAttempts: 2, initialDelayMs: 20, maxDelayMs: 50 },
      proxied,
    );
    proxy.cut();
    const e = event(type);
    await bus.send(sub, e);

    await eventually(() => expect(outcomes().length).toBeGreaterThanOrEqual(4));
    expect(new Set(outcomes())).toEqual(new Set(['retried']));
    proxy.restore();
    await eventually(() => expect(outcomes().at(-1)).toBe('processed'));
    expect(await effectsOf(e)).toBe(1);
    expect(await listDeadLetters(db)).toEqual([]);
  });

  it('does not count tries its own database failed toward the attempts the handler gets', async () => {
    const { proxy, proxied } = await proxiedDatabase();
    const type = newType();
    let handlerRuns = 0;
    // The handler fails its first run: with two attempts, that run must still be followed by a second.
    const failsOnce: EventHandler = async (e, tx) => {
      handlerRuns++;
      if (handlerRuns === 1) throw new Error('not yet');
      await effect(e, tx);
    };
    const { sub, outcomes } = await consume(
      type,
      failsOnce,
      { maxAttempts: 2, initialDelayMs: 20, maxDelayMs: 50 },
      proxied,
    );
    proxy.cut();
    const e = event(type);
    await bus.send(sub, e);
    await eventually(() => expect(outcomes().length).toBeGreaterThanOrEqual(4));
    proxy.restore();
    await eventually(() => expect(outcomes().at(-1)).toBe('processed'));
    expect(handlerRuns).toBe(2);
    expect(await effectsOf(e)).toBe(1);
    expect(await listDeadLetters(db)).toEqual([]);
  });

  it('replays only the dead letters named by id', async () => {
    const type = newType();
    let broken = true;
    const { sub, outcomes } = await consume(
      type,
      async (e, tx) => {
        if (broken) throw new Error('broken');
        await effect(e, tx);
      },
      { maxAttempts: 1 },
    );
    const [first, second] = [event(type), event(type)];
    await bus.send(sub, first);
    await bus.send(sub, second);
    await eventually(() => expect(outcomes()).toEqual(['dead_lettered', 'dead_lettered']));
    const dead = await listDeadLetters(db);
    const firstId = dead.find((d) => (d.envelope as EventEnvelope).id === first.id)!.id;

    broken = false;
    await replayDeadLetters(db, bus, [firstId]);
    await eventually(async () => expect(await effectsOf(first)).toBe(1));
    expect(await effectsOf(second)).toBe(0);
    expect((await listDeadLetters(db)).map((d) => (d.envelope as EventEnvelope).id)).toEqual([second.id]);
  });

  it('stop() resolves only once the handler in flight has committed', async () => {
    const type = newType();
    const { sub, consumer } = await consume(type, async (e, tx) => {
      await sleep(300);
      await effect(e, tx);
    });
    const e = event(type);
    await bus.send(sub, e);
    await sleep(100);

    await consumer.stop();
    expect(await effectsOf(e)).toBe(1);
  });
});

describe('dead letters of a service that never consumed', () => {
  it('lists none and replays none instead of failing on the missing table', async () => {
    const fresh = await createExtraDatabase(postgres.url, 'fresh');
    const freshDb = testPool({ connectionString: fresh.url });
    try {
      expect(await listDeadLetters(freshDb)).toEqual([]);
      expect(await replayDeadLetters(freshDb, bus)).toEqual([]);
    } finally {
      await freshDb.end();
      await fresh.drop();
    }
  });
});

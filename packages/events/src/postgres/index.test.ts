import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../../test/support/eventually.ts';
import { startTestPostgres, type TestPostgres } from '../../../../test/support/postgres.ts';
import { startTcpProxy } from '../../../../test/support/tcp-proxy.ts';
import { busContract } from '../bus.contract.ts';
import { createEnvelope } from '../envelope.ts';
import { PostgresBus } from './index.ts';

let postgres: TestPostgres;

beforeAll(async () => {
  postgres = await startTestPostgres();
});

afterAll(async () => {
  await postgres?.stop();
});

/** The test database's URL, reached at `via` (a proxy) when given. */
function urlOf(via?: { host: string; port: number }, database?: string): string {
  const url = new URL(postgres.url);
  if (via) {
    url.hostname = via.host;
    url.port = String(via.port);
  }
  if (database) url.pathname = `/${database}`;
  return url.toString();
}

describe('postgres bus', () => {
  busContract({
    get server() {
      const url = new URL(postgres.url);
      return { host: url.hostname, port: Number(url.port || 5432) };
    },
    // A short lease, so that the deliveries of a consumer that died come back within the test.
    create: (via) => new PostgresBus({ url: urlOf(via), leaseMs: 1_000 }),
  });

  it('creates its tables once when several buses start on a fresh database at once', async () => {
    const name = `bus_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const buses = Array.from({ length: 6 }, () => new PostgresBus({ url: urlOf(undefined, name) }));
    try {
      await Promise.all(buses.map((bus, i) => bus.declare(`sub-${i}`, ['table.created'])));
      const db = new pg.Client({ connectionString: urlOf(undefined, name) });
      await db.connect();
      const { rows } = await db.query('SELECT count(*)::int AS n FROM flotilla_bus_subscriptions');
      await db.end();
      expect(rows[0].n).toBe(6);
    } finally {
      await Promise.all(buses.map((bus) => bus.close()));
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
      await admin.end();
    }
  });

  it('renews the lease of a delivery whose handler outlives it, so no other consumer takes it meanwhile', async () => {
    const [slow, other] = [0, 1].map(() => new PostgresBus({ url: postgres.url, leaseMs: 300 }));
    const sub = `lease-${randomBytes(4).toString('hex')}`;
    const seen: string[] = [];
    try {
      await slow!.declare(sub, ['lease.tested']);
      await slow!.consume(sub, async (d) => {
        seen.push('slow');
        await sleep(1_200);
        await d.ack();
      });
      await slow!.publish(createEnvelope({ type: 'lease.tested', source: '/test/lease', data: {} }));
      await eventually(() => expect(seen).toEqual(['slow']));
      await other!.consume(sub, async (d) => {
        seen.push('other');
        await d.ack();
      });
      await sleep(1_500);
      expect(seen).toEqual(['slow']);
    } finally {
      await Promise.all([slow!.close(), other!.close()]);
    }
  });

  it('listens again once its cut connection is restored, so an event arrives at once rather than at the next poll', async () => {
    const target = new URL(postgres.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const bus = new PostgresBus({ url: urlOf(proxy), pollIntervalMs: 60_000 });
    const direct = new PostgresBus({ url: postgres.url });
    const sub = `listen-${randomBytes(4).toString('hex')}`;
    const arrived = new Map<string, number>();
    try {
      await bus.declare(sub, ['listen.tested']);
      await bus.consume(sub, async (d) => {
        arrived.set((d.body as { id: string }).id, Date.now());
        await d.ack();
      });
      proxy.cut();
      await sleep(300);
      proxy.restore();
      // Long enough for the LISTEN connection's backoff to have reconnected it.
      await sleep(2_500);

      const e = createEnvelope({ type: 'listen.tested', source: '/test/listen', data: {} });
      const sentAtMs = Date.now();
      await direct.publish(e);
      await eventually(() => expect(arrived.has(e.id)).toBe(true), 1_000);
      expect(arrived.get(e.id)! - sentAtMs).toBeLessThan(1_000);
    } finally {
      await Promise.all([bus.close(), direct.close()]);
      await proxy.close();
    }
  });

  it('keeps delivering at once after every backend of its database is terminated, as a restart of PostgreSQL would', async () => {
    const name = `bus_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: postgres.url });
    admin.on('error', () => undefined);
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    // Polls too rarely to matter: an event arrives within the test only through LISTEN.
    const bus = new PostgresBus({ url: urlOf(undefined, name), pollIntervalMs: 60_000 });
    const sub = `terminated-${randomBytes(4).toString('hex')}`;
    const arrived = new Set<string>();
    const publish = async (publisher: PostgresBus) => {
      const e = createEnvelope({ type: 'backend.terminated', source: '/test/terminated', data: {} });
      await publisher.publish(e);
      return e.id;
    };
    try {
      await bus.declare(sub, ['backend.terminated']);
      await bus.consume(sub, async (d) => {
        arrived.add((d.body as { id: string }).id);
        await d.ack();
      });
      const first = await publish(bus);
      await eventually(() => expect(arrived.has(first)).toBe(true));

      const { rows } = await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      );
      expect(rows.length).toBeGreaterThanOrEqual(2);

      const direct = new PostgresBus({ url: urlOf(undefined, name) });
      try {
        const second = await publish(direct);
        await eventually(() => expect(arrived.has(second)).toBe(true), 10_000);
        // And through the bus whose connections were all cut: its pool opens new ones.
        const third = await eventually(() => publish(bus), 10_000);
        await eventually(() => expect(arrived.has(third)).toBe(true), 10_000);
      } finally {
        await direct.close();
      }
    } finally {
      await bus.close();
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
      await admin.end();
    }
  });

  it('hands an unsettled delivery back at once when its handler returns without settling it', async () => {
    const bus = new PostgresBus({ url: postgres.url });
    const sub = `unsettled-${randomBytes(4).toString('hex')}`;
    const attempts: number[] = [];
    try {
      await bus.declare(sub, ['left.unsettled']);
      await bus.consume(sub, async (d) => {
        attempts.push(d.attempt);
        if (attempts.length > 1) await d.ack();
      });
      await bus.publish(createEnvelope({ type: 'left.unsettled', source: '/test/unsettled', data: {} }));
      // Well within the 30 s lease: the delivery came back because it was handed back.
      await eventually(() => expect(attempts).toEqual([1, 1]), 3_000);
    } finally {
      await bus.close();
    }
  });
});

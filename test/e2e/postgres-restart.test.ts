import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeLoad,
  type LoadCustomer,
  type OrderLoadReport,
  outcomesBetween,
  recoveryMs,
  startOrderLoad,
  verifyOrders,
} from './order-load.ts';
import { type RunningShop, startShop } from './shop.ts';
import { waitFor } from './support.ts';

/** The goal: orders succeed again within 5 s of the kill. */
const RECOVERY_MS = 5_000;

/**
 * kill -9 of the embedded PostgreSQL's postmaster under a steady load of orders. The control plane
 * notices at once (the postmaster is its child), kills the orphaned backends, waits the instances'
 * first backoff (1 s) and starts a new server on the same port, which replays its WAL; the
 * services' pools reconnect by themselves. While it is away, a request that needs it must answer
 * 503 with Retry-After, never 500, so the well-behaved client retries its key.
 */
describe('kill -9 of the embedded PostgreSQL under load', () => {
  let shop: RunningShop;
  let customers: LoadCustomer[];
  let admin: string;

  beforeAll(async () => {
    shop = await startShop();
    admin = await shop.adminToken();
    customers = await Promise.all(Array.from({ length: 4 }, () => shop.customer()));
  }, 120_000);

  afterAll(() => shop?.stop(), 60_000);

  it('orders succeed again within 5 s of the kill, with only 503s and connection errors in between (no 500), nothing lost or doubled, and status shows one restart', async () => {
    const stock = 10_000;
    // Retried on 503, as the load's client retries: a gateway replica may still be fetching keys.
    let created: Awaited<ReturnType<typeof shop.api<{ id: string }>>> | undefined;
    await waitFor('the product to be created', async () => {
      created = await shop.api<{ id: string }>('/api/catalog/v1/products', {
        token: admin,
        body: { sku: `sku-${randomUUID().slice(0, 8)}`, name: 'Phoenix lamp', price_cents: 500, stock },
      });
      if (created.status !== 503) expect(created.status, created.text).toBe(201);
      return created.status === 201;
    });
    const productId = created!.body.id;
    const load = startOrderLoad(shop, { productId, customers, ratePerS: 10 });
    let report: OrderLoadReport | undefined;
    try {
      await waitFor('20 acknowledged orders', () => load.acknowledgedCount() >= 20, 30_000);
      const before = (await shop.status()).postgres;
      expect(before.server).toMatchObject({ state: 'running', restarts: 0 });
      const pid = before.server!.pid!;
      // The status and the server's own lock file agree on whom to kill.
      const lockFile = readFileSync(join(shop.dir, '.flotilla/postgres/postmaster.pid'), 'utf8');
      expect(Number(lockFile.split('\n')[0])).toBe(pid);

      process.kill(pid, 'SIGKILL');
      const killedAt = load.now();
      let restartedAt: number | null = null;
      // Waited for without failing yet, so that what the client saw is printed in any case.
      const restarted = waitFor(
        'PostgreSQL to run again',
        async () => {
          const server = (await shop.status()).postgres.server;
          return server?.state === 'running' && server.restarts === 1;
        },
        30_000,
      ).then(() => {
        restartedAt = load.now();
      });
      const acknowledged = load.acknowledgedCount();
      const ordersAgain = waitFor(
        '20 orders acknowledged after the kill',
        () => load.acknowledgedCount() >= acknowledged + 20,
        60_000,
      );
      const waited = await Promise.allSettled([restarted, ordersAgain]);
      report = await load.stop();

      const after = (await shop.status()).postgres;
      const recovered = recoveryMs(report, killedAt);
      const instanceRestarts = (await shop.status()).services.flatMap((s) =>
        s.instances.filter((i) => i.restarts > 0).map((i) => `${i.id} (${i.lastExit?.reason})`),
      );
      const ms = (value: number | null) => (value === null ? 'never' : `${Math.round(value)} ms`);
      console.log(
        `${describeLoad(report)}\n` +
          `PostgreSQL killed at ${Math.round(killedAt)} ms; running again (in status) after ${ms(restartedAt === null ? null : restartedAt - killedAt)}; ` +
          `first order acknowledged ${ms(recovered)} after the kill; ` +
          `after the kill: ${JSON.stringify(outcomesBetween(report, killedAt))}; ` +
          `instances restarted: ${instanceRestarts.length === 0 ? 'none' : instanceRestarts.join(', ')}; ` +
          `status: ${JSON.stringify(after)}\n` +
          shop
            .output()
            .split('\n')
            .filter((line) => line.includes('PostgreSQL'))
            .join('\n'),
      );
      for (const outcome of waited) if (outcome.status === 'rejected') throw outcome.reason;

      expect(after.port).toBe(before.port);
      expect(after.server).toMatchObject({ state: 'running', restarts: 1 });
      expect(after.server!.lastExit).toMatchObject({ signal: 'SIGKILL', reason: 'killed by SIGKILL' });
      expect(after.server!.pid).not.toBe(pid);
      const shown = await shop.cliRun(['status']);
      expect(shown.stdout).toMatch(
        /^ {2}postgres embedded 127\.0\.0\.1:\d+, running \(pid \d+\), 1 restart, last ended .*: killed by SIGKILL$/m,
      );

      expect(report.hardErrors).toEqual([]);
      expect(report.givenUp).toEqual([]);
      expect(recovered).not.toBeNull();
      expect(recovered!).toBeLessThan(RECOVERY_MS);
      await verifyOrders(shop, report, productId, stock);
    } finally {
      report ??= await load.stop();
    }
  }, 180_000);
});

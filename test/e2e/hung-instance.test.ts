import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeLoad,
  type LoadCustomer,
  type OrderLoadReport,
  outcomesBetween,
  startOrderLoad,
  verifyOrders,
} from './order-load.ts';
import { type RunningShop, startShop } from './shop.ts';
import { alive, waitFor } from './support.ts';

const BUSY = '409 REQUEST_IN_PROGRESS';

/**
 * A hung orders instance (SIGSTOP: its sockets stay open and its kernel still answers TCP, but it
 * does nothing) must let go of the Idempotency-Keys it was working on within a few seconds, so that
 * the clients' retries of those keys succeed on the other replica long before liveness has killed
 * it (here about 3 s of failed probes plus the test spec's 5 s grace period; 17 s as shipped).
 * Its claims are leases of 3 s (services/orders/src/idempotency.ts).
 */
describe('a hung orders instance lets go of its idempotency keys', () => {
  let shop: RunningShop;
  let customers: LoadCustomer[];
  let admin: string;

  beforeAll(async () => {
    shop = await startShop({ replicas: { orders: 2 } });
    admin = await shop.adminToken();
    customers = await Promise.all(Array.from({ length: 4 }, () => shop.customer()));
  }, 120_000);

  afterAll(() => shop?.stop(), 60_000);

  /** Keys whose claim this process of the instance holds and that have no outcome yet. */
  const claimsOf = async (instance: string, pid: number) =>
    (
      await shop.sql<{ key: string }>(
        'orders',
        `SELECT key FROM idempotency_keys
          WHERE lease_owner = $1 AND locked_until IS NOT NULL AND response_status IS NULL`,
        [`${instance}/${pid}`],
      )
    ).map((r) => r.key);
  const unanswered = async (keys: string[]) =>
    (
      await shop.sql(
        'orders',
        'SELECT 1 FROM idempotency_keys WHERE key = ANY($1::text[]) AND response_status IS NULL',
        [keys],
      )
    ).length;
  /** When the client had its 201 for `key`, in ms of the load's clock. */
  const answeredAt = (report: OrderLoadReport, key: string) =>
    report.attempts.find((a) => a.key === key && a.outcome === '201')?.endMs ?? Infinity;

  it('answers the retries of the keys a SIGSTOPped instance held within 6 s of the stop, losing and doubling nothing', async () => {
    const stock = 10_000;
    const created = await shop.api<{ id: string }>('/api/catalog/v1/products', {
      token: admin,
      body: { sku: `sku-${randomUUID().slice(0, 8)}`, name: 'Hung lamp', price_cents: 400, stock },
    });
    expect(created.status).toBe(201);
    const productId = created.body.id;
    // A client that gives up on an attempt after 2 s and retries the same key, as an app would.
    const load = startOrderLoad(shop, { productId, customers, ratePerS: 10, attemptTimeoutMs: 2_000 });
    let report: OrderLoadReport | undefined;
    let pid: number | undefined;
    try {
      await waitFor('20 acknowledged orders', () => load.acknowledgedCount() >= 20, 30_000);
      const [victim] = await shop.instances('orders');
      pid = victim!.pid!;

      // Stopped at a moment when it holds claims: stopped between two requests, it would hold none.
      let held: string[] = [];
      let stoppedAt = 0;
      for (let tries = 0; held.length === 0; tries++) {
        if (tries === 200) throw new Error('the instance never held a claim when stopped');
        process.kill(pid, 'SIGSTOP');
        stoppedAt = load.now();
        held = await claimsOf(victim!.id, pid);
        if (held.length === 0) {
          process.kill(pid, 'SIGCONT');
          await sleep(20 + Math.random() * 80);
        }
      }
      await waitFor(
        'the keys the stopped instance held to be answered',
        async () => (await unanswered(held)) === 0,
        30_000,
      );
      // Resumed, it finds its claims taken over: what it was doing must not be recorded a second
      // time. Unless liveness has already had it killed.
      const resumed = alive(pid);
      if (resumed) process.kill(pid, 'SIGCONT');
      const resumedAt = load.now();
      let states = '';
      await waitFor(
        'orders to have two ready instances again',
        async () => {
          const now = await shop.instances('orders');
          states = now.map((i) => `${i.id} ${i.state} (${i.restarts} restarts)`).join(', ');
          return now.length === 2 && now.every((i) => i.state === 'ready');
        },
        60_000,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; orders: ${states}`);
      });
      await sleep(2_000);
      report = await load.stop();

      const busyKeys = [
        ...new Set(
          report.attempts.filter((a) => a.startMs >= stoppedAt && a.outcome === BUSY).map((a) => a.key),
        ),
      ];
      const keys = [...new Set([...held, ...busyKeys])];
      const freedMs = Math.max(...keys.map((k) => answeredAt(report!, k) - stoppedAt));
      const busyAttempts = report.attempts.filter((a) => a.outcome === BUSY && a.startMs >= stoppedAt);
      const lastBusyMs = Math.max(0, ...busyAttempts.map((a) => a.endMs - stoppedAt));
      console.log(
        `stopped instance ${victim!.id} holding ${held.length} keys; ${resumed ? `resumed ${Math.round(resumedAt - stoppedAt)} ms after the stop` : 'killed by liveness before it could be resumed'}; ` +
          `after the stop: ${JSON.stringify(outcomesBetween(report, stoppedAt))}; ` +
          `${busyAttempts.length} x ${BUSY} on ${busyKeys.length} keys, the last ${Math.round(lastBusyMs)} ms after the stop; ` +
          `every held or busy key answered 201 within ${Math.round(freedMs)} ms of the stop`,
      );
      expect(report.hardErrors).toEqual([]);
      expect(report.givenUp).toEqual([]);
      expect(freedMs).toBeLessThan(6_000);
      await verifyOrders(shop, report, productId, stock);
    } finally {
      if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGCONT');
      report ??= await load.stop();
      console.log(describeLoad(report));
    }
  }, 180_000);
});

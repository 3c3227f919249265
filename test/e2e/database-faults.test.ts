import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
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

/** Orders succeed again this soon after a fault: a terminated backend costs one retry, not an outage. */
const RECOVERY_MS = 5_000;

/**
 * pg_terminate_backend of every connection to the orders database, under a steady load of orders,
 * three times (the third time every database of the system, as a restart of PostgreSQL does to
 * them all). A checked-out client whose connection dies must not take its process down (the
 * runtime gives every client an 'error' listener); the request that held it answers 503 with
 * Retry-After, so the well-behaved client retries its key; the next request gets a new connection.
 */
/** Runs `step` again while it fails, for up to 30 s; then its last failure is thrown. */
async function retrying<T>(step: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await step();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

describe('terminated database backends under load', () => {
  let shop: RunningShop;
  let customers: LoadCustomer[];
  let admin: string;

  beforeAll(async () => {
    shop = await startShop();
    // On a busy machine an instance can turn unready for a moment after `up`: a 503 is retried.
    admin = await retrying(() => shop.adminToken());
    customers = await Promise.all(Array.from({ length: 4 }, () => retrying(() => shop.customer())));
  }, 120_000);

  afterAll(() => shop?.stop(), 60_000);

  /** Every instance's pid and restart count, by instance id. */
  const processes = async () =>
    Object.fromEntries(
      (await shop.status()).services.flatMap((s) =>
        s.instances.map((i) => [i.id, { pid: i.pid, restarts: i.restarts, state: i.state }]),
      ),
    );

  /**
   * Terminates the services' backends in the system's databases named by `pattern` (the services
   * name their connections after the instance; the test's own have no name and are spared, so
   * that its next query does not meet a connection it cut itself); returns how many.
   */
  const terminate = async (pattern: string): Promise<number> => {
    const rows = await shop.sql<{ datname: string }>(
      'orders',
      `SELECT datname FROM pg_stat_activity
        WHERE datname LIKE $1 AND application_name <> '' AND pid <> pg_backend_pid()
          AND pg_terminate_backend(pid)`,
      [pattern],
    );
    return rows.length;
  };

  const ordersBusy = async (database: string): Promise<boolean> =>
    (
      await shop.sql(
        'orders',
        `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()
          AND state IN ('active', 'idle in transaction')`,
        [database],
      )
    ).length > 0;

  it('no service process exits, requests in flight get 503 and are retried, orders succeed again within 5 s each time, and nothing is lost or doubled', async () => {
    const stock = 10_000;
    const created = await shop.api<{ id: string }>('/api/catalog/v1/products', {
      token: admin,
      body: { sku: `sku-${randomUUID().slice(0, 8)}`, name: 'Severed lamp', price_cents: 500, stock },
    });
    expect(created.status).toBe(201);
    const productId = created.body.id;
    const before = await processes();
    const orders = `flotilla_${shop.system}_orders`.replaceAll('-', '_');
    const everyDatabase = `flotilla_${shop.system}_%`.replaceAll('-', '_');

    const load = startOrderLoad(shop, { productId, customers, ratePerS: 20 });
    let report: OrderLoadReport | undefined;
    const faults: { atMs: number; pattern: string; terminated: number }[] = [];
    try {
      await waitFor('20 acknowledged orders', () => load.acknowledgedCount() >= 20, 30_000);
      for (const pattern of [orders, orders, everyDatabase]) {
        // Preferably a moment when orders is inside a statement or a transaction, so that the
        // fault meets a request in flight; at 20 orders/s one comes soon, but the fault goes ahead.
        const busyBy = Date.now() + 5_000;
        while (Date.now() < busyBy && !(await ordersBusy(orders))) await sleep(20);
        const atMs = load.now();
        faults.push({ atMs, pattern, terminated: await terminate(pattern) });
        const acknowledged = load.acknowledgedCount();
        await waitFor(
          '10 more acknowledged orders',
          () => load.acknowledgedCount() >= acknowledged + 10,
          30_000,
        );
      }
      report = await load.stop();
      const after = await processes();
      const recoveries = faults.map((f) => recoveryMs(report!, f.atMs));
      const afterFaults = outcomesBetween(report, faults[0]!.atMs);
      console.log(
        `${describeLoad(report)}\n` +
          faults
            .map(
              (f, i) =>
                `fault ${i + 1} at ${Math.round(f.atMs)} ms: ${f.terminated} backends of ${f.pattern} terminated, ` +
                `first order acknowledged ${recoveries[i] === null ? 'never' : `${Math.round(recoveries[i]!)} ms`} after`,
            )
            .join('\n') +
          `\nafter the first fault: ${JSON.stringify(afterFaults)}`,
      );

      expect(after).toEqual(before);
      for (const f of faults) expect(f.terminated).toBeGreaterThan(0);
      expect(report.hardErrors).toEqual([]);
      expect(report.givenUp).toEqual([]);
      // What the client was told to retry: 503s (DATABASE_UNAVAILABLE, OVERLOADED, or the gateway's
      // UPSTREAM_UNAVAILABLE while an instance's probe was slow) or the key still held by the
      // attempt that met the fault; never a 500 or a dropped connection.
      const notCreated = Object.keys(afterFaults).filter((o) => o !== '201');
      for (const outcome of notCreated) expect(outcome).toMatch(/^(503 [A-Z_]+|409 REQUEST_IN_PROGRESS)$/);
      for (const recovered of recoveries) {
        expect(recovered).not.toBeNull();
        expect(recovered!).toBeLessThan(RECOVERY_MS);
      }
      await verifyOrders(shop, report, productId, stock);
    } finally {
      if (!report) {
        // Failed half-way: what the client saw says where.
        report = await load.stop();
        console.log(
          `${shop.system}: ${describeLoad(report)}; faults ${JSON.stringify(faults)}; ` +
            `after the first: ${JSON.stringify(outcomesBetween(report, faults[0]?.atMs ?? 0))}`,
        );
      }
    }
  }, 180_000);
});

import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningShop, startShop } from './shop.ts';
import { tempDir, waitFor } from './support.ts';

const CARD = '4242 4242 4242 4242';

interface Order {
  id: string;
  status: string;
}

/**
 * Data safety of the shop under concurrency and crashes, through the gateway, with two replicas
 * of orders (so concurrent requests meet in two processes) and real kill -9s.
 */
describe('the shop keeps every order, charge and email exactly once', () => {
  const failpoints = join(tempDir(), 'failpoints');
  mkdirSync(failpoints, { recursive: true });
  let shop: RunningShop;
  let admin: string;

  beforeAll(async () => {
    shop = await startShop({
      env: {
        notifications: { FLOTILLA_FAILPOINTS_DIR: failpoints },
        // Pending for 5 s means abandoned here (2 min as shipped), so the reconciler test is quick.
        orders: {
          FLOTILLA_FAILPOINTS_DIR: failpoints,
          RECONCILE_PENDING_AFTER_MS: '5000',
          RECONCILE_INTERVAL_MS: '500',
        },
      },
    });
    admin = await shop.adminToken();
  }, 120_000);

  afterAll(() => shop?.stop(), 60_000);

  const product = async (stock: number) => {
    const res = await shop.api<{ id: string }>('/api/catalog/v1/products', {
      token: admin,
      body: { sku: `sku-${randomUUID().slice(0, 8)}`, name: 'Safety lamp', price_cents: 700, stock },
    });
    expect(res.status).toBe(201);
    return res.body.id;
  };
  const order = (token: string, productId: string, key: string) =>
    shop.api<Order>('/api/orders/v1/orders', {
      token,
      body: { items: [{ product_id: productId, quantity: 1 }], card_number: CARD },
      headers: { 'idempotency-key': key },
    });
  /**
   * As a well-behaved client: a 503 (a pool shedding load, a database restarting) is retried with
   * the same key after Retry-After, so the answer that counts is the shop's decision.
   */
  const decidedOrder = async (token: string, productId: string, key: string) => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const res = await order(token, productId, key);
      if (res.status !== 503 || Date.now() > deadline) return res;
      await sleep(Math.min(Number(res.headers.get('retry-after')) || 1, 2) * 1_000 * Math.random());
    }
  };
  const stockOf = async (id: string) =>
    (await shop.sql<{ stock: number }>('orders', 'SELECT stock FROM products WHERE id = $1', [id]))[0]!.stock;

  it('sells 5 units to 20 concurrent orders across two replicas: exactly 5 paid, stock 0', async () => {
    const id = await product(5);
    const customers = await Promise.all(Array.from({ length: 4 }, () => shop.customer()));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => decidedOrder(customers[i % 4]!.token, id, randomUUID())),
    );
    expect(results.filter((r) => r.status === 201 && r.body.status === 'paid')).toHaveLength(5);
    expect(results.filter((r) => r.status === 409)).toHaveLength(15);
    expect(await stockOf(id)).toBe(0);
    const charged = await shop.sql(
      'payments',
      'SELECT 1 FROM payment_charges WHERE order_id = ANY($1::uuid[])',
      [results.filter((r) => r.status === 201).map((r) => r.body.id)],
    );
    expect(charged).toHaveLength(5);
  });

  it('makes one order and one charge of 50 concurrent requests with one key across two replicas', async () => {
    const id = await product(100);
    const { token, id: owner } = await shop.customer();
    const key = randomUUID();
    const results = await Promise.all(Array.from({ length: 50 }, () => decidedOrder(token, id, key)));
    expect(results.every((r) => r.status === 201 || r.status === 409)).toBe(true);
    const created = results.filter((r) => r.status === 201);
    expect(new Set(created.map((r) => r.text)).size).toBe(1);
    const orders = await shop.sql<{ id: string }>('orders', 'SELECT id FROM orders WHERE owner = $1', [
      owner,
    ]);
    expect(orders).toHaveLength(1);
    const calls = await shop.sql(
      'payments',
      `SELECT 1 FROM payment_processor_calls c JOIN payment_charges p ON p.id = c.charge_id
        WHERE p.order_id = $1 AND c.operation = 'authorize'`,
      [orders[0]!.id],
    );
    expect(calls).toHaveLength(1);
    expect(await stockOf(id)).toBe(99);
  });

  it('loses and duplicates nothing when an orders replica is killed with SIGKILL during 200 orders with retries', async () => {
    const id = await product(1_000);
    const customers = await Promise.all(Array.from({ length: 4 }, () => shop.customer()));
    const keys = Array.from({ length: 200 }, () => randomUUID());
    const answers = new Map<string, string>();
    let retries = 0;
    let next = 0;
    const client = async () => {
      while (next < keys.length) {
        const i = next++;
        const key = keys[i]!;
        const token = customers[i % customers.length]!.token;
        const deadline = Date.now() + 60_000;
        for (;;) {
          try {
            const res = await order(token, id, key);
            if (res.status === 201) {
              answers.set(key, res.body.id);
              break;
            }
            if (![409, 502, 503, 504].includes(res.status))
              throw new Error(`order ${key}: ${res.status} ${res.text}`);
          } catch (error) {
            if (!(error instanceof TypeError) && !(error as Error).name?.includes('Timeout')) throw error;
          }
          if (Date.now() > deadline) throw new Error(`order ${key} did not go through within 60 s`);
          retries++;
          await sleep(100 + Math.random() * 200);
        }
      }
    };
    const clients = Promise.all(Array.from({ length: 8 }, client));
    await waitFor('50 orders', () => answers.size >= 50, 60_000);
    const [victim] = await shop.instances('orders');
    process.kill(victim!.pid!, 'SIGKILL');
    await waitFor('120 orders', () => answers.size >= 120, 60_000);
    const [, second] = await shop.instances('orders');
    process.kill(second!.pid!, 'SIGKILL');
    await clients;

    expect(answers.size).toBe(200);
    expect(new Set(answers.values()).size).toBe(200);
    const owners = customers.map((c) => c.id);
    const orders = await shop.sql<{ id: string; status: string }>(
      'orders',
      `SELECT o.id, o.status FROM orders o JOIN idempotency_keys k ON k.order_id = o.id
        WHERE o.owner = ANY($1) AND k.key = ANY($2)`,
      [owners, keys],
    );
    expect(orders).toHaveLength(200);
    expect(orders.every((o) => o.status === 'paid')).toBe(true);
    expect(new Set(orders.map((o) => o.id))).toEqual(new Set(answers.values()));
    const stray = await shop.sql(
      'orders',
      `SELECT 1 FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id = $1 AND o.status <> 'paid'`,
      [id],
    );
    expect(stray).toEqual([]);
    const charges = await shop.sql<{ order_id: string; calls: number }>(
      'payments',
      `SELECT p.order_id, count(c.*)::int AS calls FROM payment_charges p
         LEFT JOIN payment_processor_calls c ON c.charge_id = p.id AND c.operation = 'authorize'
        WHERE p.order_id = ANY($1::uuid[]) GROUP BY p.order_id`,
      [[...answers.values()]],
    );
    expect(charges).toHaveLength(200);
    expect(charges.every((c) => c.calls === 1)).toBe(true);
    expect(await stockOf(id)).toBe(800);
    // The kills happened mid-traffic: some requests had to be retried.
    expect(retries).toBeGreaterThan(0);
    const restarted = await shop.instances('orders');
    expect(restarted.reduce((n, i) => n + i.restarts, 0)).toBe(2);
  }, 180_000);

  const restartsOf = async (service: string) =>
    (await shop.instances(service)).reduce((n, i) => n + i.restarts, 0);
  const chargesOf = (orderId: string) =>
    shop.sql<{ status: string; calls: number }>(
      'payments',
      `SELECT p.status, (SELECT count(*)::int FROM payment_processor_calls c
                          WHERE c.charge_id = p.id AND c.operation = 'authorize') AS calls
         FROM payment_charges p WHERE p.order_id = $1`,
      [orderId],
    );

  it.each([
    ['after the stock is reserved and before the charge', 'orders.after-reserve'],
    ['after the charge and before the order is settled', 'orders.after-charge'],
  ])(
    'resumes an order whose replica is killed %s on the retry with its key, charging once',
    async (_when, point) => {
      const id = await product(10);
      const { token, id: owner } = await shop.customer();
      const restarts = await restartsOf('orders');
      writeFileSync(join(failpoints, point), '');
      const key = randomUUID();
      const first = await order(token, id, key);
      expect(first.status).toBe(502);
      let answer = first;
      for (let i = 0; i < 100 && answer.status !== 201; i++) {
        await sleep(200);
        answer = await order(token, id, key);
      }
      expect(answer.status).toBe(201);
      expect(answer.body.status).toBe('paid');
      await waitFor(
        'the killed replica to be restarted',
        async () => (await restartsOf('orders')) === restarts + 1,
      );
      expect(await shop.sql('orders', 'SELECT 1 FROM orders WHERE owner = $1', [owner])).toHaveLength(1);
      expect(await chargesOf(answer.body.id)).toEqual([{ status: 'approved', calls: 1 }]);
      expect(await stockOf(id)).toBe(9);
    },
    60_000,
  );

  it('settles an order whose replica is killed after the charge, with no retry, and mails its receipt', async () => {
    const id = await product(10);
    const { token, id: owner, email } = await shop.customer();
    writeFileSync(join(failpoints, 'orders.after-charge'), '');
    expect((await order(token, id, randomUUID())).status).toBe(502);
    let settled: { id: string; status: string }[] = [];
    await waitFor(
      'the reconciler to settle the order',
      async () => {
        settled = await shop.sql('orders', 'SELECT id, status FROM orders WHERE owner = $1', [owner]);
        return settled[0]?.status === 'paid';
      },
      30_000,
    );
    expect(await chargesOf(settled[0]!.id)).toEqual([{ status: 'approved', calls: 1 }]);
    expect(await stockOf(id)).toBe(9);
    const mail = await shop.waitForMail(email, 2);
    expect(mail.map((m) => m.subject)).toContain(`Your order ${settled[0]!.id.slice(0, 8)} is paid`);
  }, 60_000);

  it.each([
    ['after the email is sent and before it is recorded as sent', 'notifications.after-send', 2],
    ['after the email is claimed and before it is sent', 'notifications.before-send', 1],
  ])(
    'sends exactly one email when the consumer crashes %s',
    async (_when, point, arrivals) => {
      // Armed only once nothing else is waiting to be sent, so that the crash hits this email.
      await waitFor(
        'earlier notifications to be sent',
        async () =>
          (await shop.sql('notifications', `SELECT 1 FROM notifications WHERE status = 'pending'`)).length ===
          0,
        60_000,
      );
      const before = (await shop.instances('notifications'))[0]!.restarts;
      writeFileSync(join(failpoints, point), '');
      const { email, id } = await shop.customer();
      await waitFor(
        'notifications to be killed at the failpoint and restarted',
        async () => {
          const [instance] = await shop.instances('notifications');
          return instance!.restarts === before + 1 && instance!.state === 'ready';
        },
        30_000,
      );
      await shop.waitForMail(email, 1, 20_000);
      await waitFor('the notification to be recorded as sent', async () => {
        const rows = await shop.sql<{ status: string }>(
          'notifications',
          `SELECT status FROM notifications WHERE user_id = $1 AND channel = 'email'`,
          [id],
        );
        return rows.length === 1 && rows[0]!.status === 'sent';
      });
      await sleep(1_000);
      const mail = await shop.mail(email);
      expect(mail).toHaveLength(1);
      // A crash after the send: the resend carried the same Message-ID and the sink kept one message.
      expect(mail[0]!.receivedCount).toBe(arrivals);
    },
    60_000,
  );
});

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../test/support/eventually.ts';
import { CARDS, customer, type Shop, startShop } from '../test/harness.ts';

interface Order {
  id: string;
  status: string;
  payment: { decline_code: string | null };
}

describe('the reconciler of orders left pending', () => {
  let shop: Shop;

  beforeAll(async () => {
    shop = await startShop({ RECONCILE_PENDING_AFTER_MS: '1500', RECONCILE_INTERVAL_MS: '200' });
  });

  afterAll(() => shop?.stop());

  const order = (as: ReturnType<typeof customer>, productId: string, key: string) =>
    shop.call<Order>('/api/orders/v1/orders', {
      as,
      body: { items: [{ product_id: productId, quantity: 1 }], card_number: CARDS.approved },
      headers: { 'idempotency-key': key },
    });
  const stockOf = async (id: string) =>
    (await shop.ordersDb<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [id]))[0]!.stock;
  /** An order left pending: payments was down for its one request, and its client never retried. */
  const abandoned = async (productId: string, as: ReturnType<typeof customer>, key: string) => {
    await shop.stopPayments();
    try {
      expect((await order(as, productId, key)).status).toBe(503);
    } finally {
      await shop.startPayments();
    }
    const [row] = await shop.ordersDb<{ id: string; status: string }>(
      'SELECT id, status FROM orders WHERE owner = $1',
      [as.subject],
    );
    expect(row!.status).toBe('pending');
    return row!.id;
  };

  it('voids the charge of an abandoned order, fails it, gives its stock back and answers its late retry with that', async () => {
    const { id: product } = await shop.product({ name: 'Left behind', stock: 2 });
    const kim = customer();
    const key = randomUUID();
    const orderId = await abandoned(product, kim, key);
    expect(await stockOf(product)).toBe(1);
    await eventually(async () => {
      const [row] = await shop.ordersDb<{ status: string; decline_code: string }>(
        'SELECT status, decline_code FROM orders WHERE id = $1',
        [orderId],
      );
      expect(row).toEqual({ status: 'payment_failed', decline_code: 'abandoned' });
    }, 10_000);
    expect(await stockOf(product)).toBe(2);
    expect(
      await shop.paymentsDb('SELECT status FROM payment_charges WHERE order_id = $1', [orderId]),
    ).toEqual([{ status: 'voided' }]);
    const late = await order(kim, product, key);
    expect(late.status).toBe(201);
    expect(late.headers.get('idempotent-replayed')).toBe('true');
    expect(late.body).toMatchObject({
      id: orderId,
      status: 'payment_failed',
      payment: { decline_code: 'abandoned' },
    });
    const calls = await shop.paymentsDb(
      `SELECT 1 FROM payment_processor_calls c JOIN payment_charges p ON p.id = c.charge_id WHERE p.order_id = $1`,
      [orderId],
    );
    expect(calls).toEqual([]);
  });

  it('settles as paid an order whose charge was approved after orders stopped waiting, and publishes order.paid', async () => {
    const events = await shop.listen(['order.paid']);
    const { id: product } = await shop.product({ name: 'Paid late', price_cents: 1_100, stock: 2 });
    const lee = customer();
    const key = randomUUID();
    const orderId = await abandoned(product, lee, key);
    // The charge request that orders gave up on arrives at payments after all.
    const charged = await fetch(`http://127.0.0.1:${shop.payments.port}/internal/payments/v1/charges`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        order_id: orderId,
        amount_cents: 1_100,
        currency: 'EUR',
        card_number: CARDS.approved,
      }),
    });
    expect(charged.status).toBe(201);
    await eventually(async () => {
      const [row] = await shop.ordersDb<{ status: string }>('SELECT status FROM orders WHERE id = $1', [
        orderId,
      ]);
      expect(row!.status).toBe('paid');
    }, 10_000);
    await eventually(() =>
      expect(events.map((e) => (e.data as { order_id: string }).order_id)).toContain(orderId),
    );
    expect(await stockOf(product)).toBe(1);
    const late = await order(lee, product, key);
    expect(late.body).toMatchObject({ id: orderId, status: 'paid' });
  });
});

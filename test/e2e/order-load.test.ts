import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeLoad, type LoadCustomer, startOrderLoad, verifyOrders } from './order-load.ts';
import { type RunningShop, startShop } from './shop.ts';
import { waitFor } from './support.ts';

/**
 * The fault tests' client and outside check, on a healthy shop: every order is acknowledged at
 * the first attempt, the check holds, and the check notices when the databases disagree with
 * what the client was told (so a fault test that passes it has really been checked).
 */
describe('the order load and its check from outside', () => {
  let shop: RunningShop;
  let customers: LoadCustomer[];
  let admin: string;

  beforeAll(async () => {
    shop = await startShop();
    admin = await shop.adminToken();
    customers = await Promise.all(Array.from({ length: 3 }, () => shop.customer()));
  }, 120_000);

  afterAll(() => shop?.stop(), 60_000);

  const product = async (stock: number) => {
    const res = await shop.api<{ id: string }>('/api/catalog/v1/products', {
      token: admin,
      body: { sku: `sku-${randomUUID().slice(0, 8)}`, name: 'Load lamp', price_cents: 500, stock },
    });
    expect(res.status).toBe(201);
    return res.body.id;
  };

  it('places 30 orders at 10/s on a healthy shop with no retry, and the check holds', async () => {
    const productId = await product(1_000);
    const load = startOrderLoad(shop, { productId, customers, ratePerS: 10, maxOrders: 30 });
    await waitFor('30 acknowledged orders', () => load.acknowledgedCount() >= 30, 30_000);
    const report = await load.stop();
    console.log(describeLoad(report));
    expect(report.orders).toBe(30);
    expect(report.acknowledged).toHaveLength(30);
    expect(report.givenUp).toEqual([]);
    expect(report.hardErrors).toEqual([]);
    expect(report.attempts).toHaveLength(30);
    expect(report.acknowledged.every((o) => o.status === 'paid')).toBe(true);
    await verifyOrders(shop, report, productId, 1_000);

    // The same report against a shop that lost a unit of stock, and an order that lost its charge.
    await shop.sql('orders', 'UPDATE products SET stock = stock + 1 WHERE id = $1', [productId]);
    await expect(verifyOrders(shop, report, productId, 1_000)).rejects.toThrow(/stock/);
    await shop.sql('orders', 'UPDATE products SET stock = stock - 1 WHERE id = $1', [productId]);
    const victim = report.acknowledged[0]!.id;
    await shop.sql(
      'payments',
      'UPDATE payment_charges SET order_id = gen_random_uuid() WHERE order_id = $1',
      [victim],
    );
    await expect(verifyOrders(shop, report, productId, 1_000)).rejects.toThrow(
      new RegExp(`paid order ${victim} has charges \\[\\]`),
    );
  }, 90_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, customer, type Shop, startShop } from '../test/harness.ts';

interface Page {
  items: { id: string; name: string; stock: number; price_cents: number; currency: string }[];
  next_cursor: string | null;
}

describe('the catalogue', () => {
  let shop: Shop;

  beforeAll(async () => {
    shop = await startShop();
    for (const [name, description] of [
      ['Espresso machine', 'Pressure brewing at 15 bar'],
      ['Coffee grinder', 'Burr grinder for espresso and filter'],
      ['Tea kettle', 'Boils water; pairs with green tea'],
      ['Milk jug', 'Steel jug for latte art'],
    ] as const) {
      await shop.product({ name, description, stock: 3 });
    }
  });

  afterAll(() => shop?.stop());

  it('lets an admin create a product, and refuses customers (403) and anonymous callers (401)', async () => {
    const body = { sku: 'mug-1', name: 'Mug', price_cents: 800, stock: 10 };
    const created = await shop.call<{ id: string; stock: number; currency: string }>(
      '/api/catalog/v1/products',
      {
        as: ADMIN,
        body,
      },
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      sku: 'mug-1',
      name: 'Mug',
      price_cents: 800,
      stock: 10,
      currency: 'EUR',
    });
    const asCustomer = await shop.call('/api/catalog/v1/products', {
      as: customer(),
      body: { ...body, sku: 'mug-2' },
    });
    expect(asCustomer.status).toBe(403);
    expect(asCustomer.body).toMatchObject({ error: { code: 'FORBIDDEN' } });
    const anonymous = await shop.call('/api/catalog/v1/products', { body: { ...body, sku: 'mug-3' } });
    expect(anonymous.status).toBe(401);
    const duplicate = await shop.call('/api/catalog/v1/products', { as: ADMIN, body });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body).toMatchObject({ error: { code: 'SKU_TAKEN' } });
  });

  it('refuses a product with a price or stock out of bounds, naming the field', async () => {
    const res = await shop.call<{ error: { details: { path: string }[] } }>('/api/catalog/v1/products', {
      as: ADMIN,
      body: { sku: 'bad one', name: '', price_cents: 0, stock: -1 },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d) => d.path).sort()).toEqual(['name', 'price_cents', 'sku', 'stock']);
  });

  it('restocks for admins only', async () => {
    const { id } = await shop.product({ name: 'Filter papers', stock: 0 });
    expect(
      (await shop.call(`/api/catalog/v1/products/${id}/restock`, { as: customer(), body: { quantity: 5 } }))
        .status,
    ).toBe(403);
    const restocked = await shop.call<{ stock: number }>(`/api/catalog/v1/products/${id}/restock`, {
      as: ADMIN,
      body: { quantity: 5 },
    });
    expect(restocked.status).toBe(200);
    expect(restocked.body.stock).toBe(5);
    const missing = await shop.call('/api/catalog/v1/products/00000000-0000-4000-8000-000000000000/restock', {
      as: ADMIN,
      body: { quantity: 5 },
    });
    expect(missing.status).toBe(404);
  });

  it('searches name and description with full-text search, name matches ranked first', async () => {
    const res = await shop.call<Page>('/api/catalog/v1/products?q=espresso');
    expect(res.status).toBe(200);
    expect(res.body.items.map((p) => p.name)).toEqual(['Espresso machine', 'Coffee grinder']);
    const stemmed = await shop.call<Page>('/api/catalog/v1/products?q=boiling');
    expect(stemmed.body.items.map((p) => p.name)).toEqual(['Tea kettle']);
    const none = await shop.call<Page>('/api/catalog/v1/products?q=submarine');
    expect(none.body).toEqual({ items: [], next_cursor: null });
  });

  it('takes a query with operators as a web search, never as SQL or tsquery syntax', async () => {
    for (const q of ["'; DROP TABLE products; --", 'tea & | ! (', '"latte art"', '-espresso grinder']) {
      const res = await shop.call<Page>(`/api/catalog/v1/products?q=${encodeURIComponent(q)}`);
      expect(res.status).toBe(200);
    }
    const phrase = await shop.call<Page>(`/api/catalog/v1/products?q=${encodeURIComponent('"latte art"')}`);
    expect(phrase.body.items.map((p) => p.name)).toEqual(['Milk jug']);
  });

  it('pages through every product with a cursor, and bounds the page size', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { status: number; body: Page } = await shop.call<Page>(
        `/api/catalog/v1/products?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((p) => p.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    const all = await shop.ordersDb<{ id: string }>('SELECT id FROM products');
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.sort()).toEqual(all.map((r) => r.id).sort());
    const tooMany = await shop.call('/api/catalog/v1/products?limit=101');
    expect(tooMany.status).toBe(400);
    const forged = await shop.call('/api/catalog/v1/products?cursor=bm90LWpzb24');
    expect(forged.status).toBe(400);
    expect(forged.body).toMatchObject({ error: { code: 'INVALID_CURSOR' } });
  });

  it('answers 400, not 500, for a value the database cannot take (a NUL character)', async () => {
    const res = await shop.call('/api/catalog/v1/products?q=lamp%00');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'INVALID_VALUE' } });
  });

  it('answers 404 for an unknown or malformed product id', async () => {
    expect((await shop.call('/api/catalog/v1/products/00000000-0000-4000-8000-000000000000')).status).toBe(
      404,
    );
    expect((await shop.call('/api/catalog/v1/products/not-a-uuid')).status).toBe(404);
  });
});

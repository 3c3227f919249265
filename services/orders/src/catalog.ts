import { HttpError, reply, type Service } from '@flotilla/runtime';
import { z } from 'zod';
import { requireAdmin } from './caller.ts';
import { ORDERS_DEFAULTS } from './defaults.ts';
import { decodeCursor, encodeCursor } from './page-cursor.ts';

const { page, search, product: limits } = ORDERS_DEFAULTS;

/** A product as clients see it. */
export interface Product {
  id: string;
  sku: string;
  name: string;
  description: string;
  price_cents: number;
  currency: string;
  stock: number;
  created_at: string;
  updated_at: string;
}

const PRODUCT_COLUMNS = 'id, sku, name, description, price_cents, stock, created_at, updated_at';

const newProduct = z.object({
  sku: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'expected 1 to 64 letters, digits, ".", "_" or "-"'),
  name: z.string().trim().min(1).max(200),
  description: z.string().trim().max(5_000).default(''),
  price_cents: z.int().min(1).max(limits.maxPriceCents),
  stock: z.int().min(0).max(limits.maxStock).default(0),
});

const restock = z.object({ quantity: z.int().min(1).max(limits.maxStock) });

const listQuery = z.object({
  q: z.string().trim().max(search.maxQueryLength).optional(),
  limit: z.coerce.number().int().min(1).max(page.maxSize).default(page.defaultSize),
  cursor: z.string().max(200).optional(),
});

const productId = z.uuid();

/**
 * The catalogue: anyone may search and read products; only admins create and restock them.
 * Search is PostgreSQL full-text search over name (weighted higher) and description, ranked, and
 * paginated with an opaque cursor and a bounded page size.
 */
export function registerCatalog(service: Service, currency: string): void {
  const toProduct = (row: Record<string, unknown>): Product => ({
    id: row.id as string,
    sku: row.sku as string,
    name: row.name as string,
    description: row.description as string,
    price_cents: row.price_cents as number,
    currency,
    stock: row.stock as number,
    created_at: (row.created_at as Date).toISOString(),
    updated_at: (row.updated_at as Date).toISOString(),
  });

  service.get('/api/catalog/v1/products', { query: listQuery }, async (ctx) => {
    const { q, limit } = ctx.query;
    const offset = ctx.query.cursor ? decodeCursor(ctx.query.cursor, isOffsetCursor).o : 0;
    const terms = q === undefined || q === '' ? undefined : q;
    // One row more than asked says whether there is a next page.
    const { rows } =
      terms === undefined
        ? await service.db.query(
            `SELECT ${PRODUCT_COLUMNS} FROM products ORDER BY created_at, id LIMIT $1 OFFSET $2`,
            [limit + 1, offset],
          )
        : await service.db.query(
            `SELECT ${PRODUCT_COLUMNS} FROM products, websearch_to_tsquery('english', $1) AS query
              WHERE search @@ query
              ORDER BY ts_rank(search, query) DESC, id
              LIMIT $2 OFFSET $3`,
            [terms, limit + 1, offset],
          );
    const more = rows.length > limit;
    const next = offset + limit;
    return {
      items: rows.slice(0, limit).map(toProduct),
      next_cursor: more && next <= page.maxOffset ? encodeCursor({ o: next }) : null,
    };
  });

  service.get('/api/catalog/v1/products/:id', async (ctx) => {
    const found = productId.safeParse(ctx.params.id).success
      ? await service.db.query(`SELECT ${PRODUCT_COLUMNS} FROM products WHERE id = $1`, [ctx.params.id])
      : { rows: [] };
    if (found.rows.length === 0) throw notFound();
    return toProduct(found.rows[0]);
  });

  service.post('/api/catalog/v1/products', { body: newProduct }, async (ctx) => {
    requireAdmin(ctx);
    const p = ctx.body;
    try {
      const { rows } = await service.db.query(
        `INSERT INTO products (sku, name, description, price_cents, stock) VALUES ($1, $2, $3, $4, $5)
         RETURNING ${PRODUCT_COLUMNS}`,
        [p.sku, p.name, p.description, p.price_cents, p.stock],
      );
      return reply(201, toProduct(rows[0]));
    } catch (error) {
      if ((error as { code?: string }).code === '23505') {
        throw new HttpError(409, 'SKU_TAKEN', `A product with SKU ${p.sku} exists already.`);
      }
      throw error;
    }
  });

  service.post('/api/catalog/v1/products/:id/restock', { body: restock }, async (ctx) => {
    requireAdmin(ctx);
    if (!productId.safeParse(ctx.params.id).success) throw notFound();
    try {
      const { rows } = await service.db.query(
        `UPDATE products SET stock = stock + $2, updated_at = now() WHERE id = $1 RETURNING ${PRODUCT_COLUMNS}`,
        [ctx.params.id, ctx.body.quantity],
      );
      if (rows.length === 0) throw notFound();
      return toProduct(rows[0]);
    } catch (error) {
      // integer overflow of stock + quantity
      if ((error as { code?: string }).code === '22003') {
        throw new HttpError(400, 'STOCK_TOO_LARGE', `Stock cannot exceed ${2 ** 31 - 1}.`);
      }
      throw error;
    }
  });
}

function isOffsetCursor(value: unknown): value is { o: number } {
  const o = (value as { o?: unknown } | null)?.o;
  return typeof o === 'number' && Number.isInteger(o) && o > 0 && o <= page.maxOffset;
}

function notFound(): HttpError {
  return new HttpError(404, 'PRODUCT_NOT_FOUND', 'No product has this id.');
}

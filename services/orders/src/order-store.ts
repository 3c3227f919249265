import type { DatabaseClient } from '@flotilla/runtime';

type Queryable = Pick<DatabaseClient, 'query'>;

/** An order as its owner sees it. */
export interface Order {
  id: string;
  status: 'pending' | 'paid' | 'payment_failed' | 'cancelled';
  items: { product_id: string; name: string; quantity: number; unit_price_cents: number }[];
  total_cents: number;
  currency: string;
  payment: { card_last4: string; decline_code: string | null };
  created_at: string;
  paid_at: string | null;
  cancelled_at: string | null;
}

interface OrderRow {
  id: string;
  owner: string;
  status: Order['status'];
  total_cents: number;
  currency: string;
  card_last4: string;
  decline_code: string | null;
  created_at: Date;
  paid_at: Date | null;
  cancelled_at: Date | null;
  /** created_at to the microsecond, for the page keyset (a Date keeps milliseconds only). */
  created_key: string;
}

const ORDER_COLUMNS = '*, created_at::text AS created_key';

/** The order with this id, only when `owner` placed it (anyone else's reads as missing). */
export async function loadOrder(db: Queryable, id: string, owner: string): Promise<Order | undefined> {
  const { rows } = await db.query<OrderRow>(
    `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = $1 AND owner = $2`,
    [id, owner],
  );
  if (rows.length === 0) return undefined;
  return (await withItems(db, rows))[0];
}

/** A page of the owner's orders, newest first, after the (created_at, id) position `after`. */
export async function listOrders(
  db: Queryable,
  owner: string,
  limit: number,
  after: { t: string; id: string } | undefined,
): Promise<{ orders: Order[]; last: { t: string; id: string } | undefined; more: boolean }> {
  const { rows } = after
    ? await db.query<OrderRow>(
        `SELECT ${ORDER_COLUMNS} FROM orders WHERE owner = $1 AND (created_at, id) < ($2::timestamptz, $3::uuid)
          ORDER BY created_at DESC, id DESC LIMIT $4`,
        [owner, after.t, after.id, limit + 1],
      )
    : await db.query<OrderRow>(
        `SELECT ${ORDER_COLUMNS} FROM orders WHERE owner = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
        [owner, limit + 1],
      );
  const page = rows.slice(0, limit);
  const lastRow = page.at(-1);
  return {
    orders: await withItems(db, page),
    last: lastRow ? { t: lastRow.created_key, id: lastRow.id } : undefined,
    more: rows.length > limit,
  };
}

async function withItems(db: Queryable, rows: OrderRow[]): Promise<Order[]> {
  if (rows.length === 0) return [];
  const { rows: items } = await db.query<{
    order_id: string;
    product_id: string;
    name: string;
    quantity: number;
    unit_price_cents: number;
  }>(
    `SELECT order_id, product_id, name, quantity, unit_price_cents FROM order_items
      WHERE order_id = ANY($1::uuid[]) ORDER BY name, product_id`,
    [rows.map((r) => r.id)],
  );
  return rows.map((row) => ({
    id: row.id,
    status: row.status,
    items: items
      .filter((i) => i.order_id === row.id)
      .map(({ product_id, name, quantity, unit_price_cents }) => ({
        product_id,
        name,
        quantity,
        unit_price_cents,
      })),
    total_cents: row.total_cents,
    currency: row.currency,
    payment: { card_last4: row.card_last4, decline_code: row.decline_code },
    created_at: row.created_at.toISOString(),
    paid_at: row.paid_at?.toISOString() ?? null,
    cancelled_at: row.cancelled_at?.toISOString() ?? null,
  }));
}

/** Puts the stock of an order's items back (a failed payment, a cancellation). */
export async function releaseStock(tx: Queryable, orderId: string): Promise<void> {
  // In id order, as reserving does: an UPDATE ... FROM locks rows in whatever order its plan
  // meets them, and two transactions taking the same rows in different orders deadlock.
  await tx.query(
    `SELECT 1 FROM products WHERE id IN (SELECT product_id FROM order_items WHERE order_id = $1)
      ORDER BY id FOR UPDATE`,
    [orderId],
  );
  await tx.query(
    `UPDATE products p SET stock = p.stock + i.quantity, updated_at = now()
       FROM order_items i WHERE i.order_id = $1 AND p.id = i.product_id`,
    [orderId],
  );
}

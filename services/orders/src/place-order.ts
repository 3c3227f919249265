import { randomUUID } from 'node:crypto';
import { type DatabaseClient, failpoint, type Service } from '@flotilla/runtime';
import { ORDERS_DEFAULTS } from './defaults.ts';
import { completeKey, type IdempotencyKeys, type KeyLease } from './idempotency.ts';
import { loadOrder, type Order, releaseStock } from './order-store.ts';
import type { ChargeOutcome, PaymentsClient } from './payments-client.ts';

/** A validated order request. */
export interface OrderRequest {
  items: { product_id: string; quantity: number }[];
  card_number: string;
}

/** A final answer to an order request: what the key replays from now on. */
export interface FinalAnswer {
  status: number;
  body: string;
}

interface Step extends KeyRef {
  request: OrderRequest;
}

/**
 * Placing an order, in two atomic phases with a recovery point between them (the order id on the
 * idempotency key), so that a request cut anywhere can be resumed by a retry with the same key:
 *
 * 1. reserve: one transaction locks the products, checks and takes the stock, creates the order
 *    (pending) and records its id on the key. Out of stock or unknown products end the key here.
 * 2. charge: payments is asked to charge the order (idempotent per order, so a resumed request
 *    never charges twice); then one transaction settles the order as paid or payment_failed
 *    (giving the stock back), writes `order.paid` to the outbox and records the answer on the key.
 *
 * Each transaction runs under the request's claim on the key (`keys.transaction`), so a request
 * whose claim was taken over meanwhile writes nothing; no connection is held between them, in
 * particular not across the payments call. Payments being unavailable leaves the order pending and
 * the key open: the caller gets 503 and its retry resumes at the charge. A pending order that
 * nobody retries is settled by the reconciler (reconcile.ts). The two failpoints mark the crash
 * windows the tests exercise.
 */
export async function placeOrder(
  service: Service,
  payments: PaymentsClient,
  keys: IdempotencyKeys,
  step: Step,
  recordedOrderId: string | null,
  currency: string,
): Promise<FinalAnswer> {
  const { lease } = step;
  let orderId = recordedOrderId;
  if (orderId === null) {
    const reserved = await keys.transaction(lease, (tx) => reserve(tx, step, currency));
    if ('status' in reserved) return reserved;
    orderId = reserved.orderId;
  }
  // Read after the reserve's commit, not in it: every order of a product waits for its row lock.
  const order = (await loadOrder(service.db, orderId, lease.owner))!;
  if (order.status !== 'pending') {
    // Settled by an earlier attempt whose answer was not recorded: answer with the order as it is.
    return keys.transaction(lease, (tx) => answer(tx, step, 201, order));
  }
  failpoint('orders.after-reserve');
  const outcome = await payments.charge({
    orderId,
    amountCents: order.total_cents,
    currency: order.currency,
    cardNumber: step.request.card_number,
  });
  failpoint('orders.after-charge');
  return keys.transaction(lease, (tx) => settleOrder(service, tx, step, orderId, outcome));
}

/** Who a settlement answers: the claim on the key, and the trace of the request, if any. */
export interface KeyRef {
  lease: KeyLease;
  traceparent: string | undefined;
}

/**
 * Settles a pending order in the caller's transaction with what payments said: paid (and
 * `order.paid` written to the outbox) or payment_failed (and the stock given back), then records
 * the order as the key's final answer. Only the update that moves the order out of pending
 * releases stock or publishes, so whatever else ran on the order, those happen once. `tx` is a
 * transaction of `keys.transaction` under `ref.lease`.
 */
export async function settleOrder(
  service: Service,
  tx: DatabaseClient,
  ref: KeyRef,
  orderId: string,
  outcome: ChargeOutcome,
): Promise<FinalAnswer> {
  const { rowCount } =
    outcome.status === 'approved'
      ? await tx.query(
          `UPDATE orders SET status = 'paid', paid_at = now() WHERE id = $1 AND status = 'pending'`,
          [orderId],
        )
      : await tx.query(
          `UPDATE orders SET status = 'payment_failed', decline_code = $2 WHERE id = $1 AND status = 'pending'`,
          [orderId, outcome.decline_code ?? 'declined'],
        );
  const settled = (await loadOrder(tx, orderId, ref.lease.owner))!;
  if (rowCount === 1 && settled.status === 'payment_failed') await releaseStock(tx, orderId);
  if (rowCount === 1 && settled.status === 'paid') {
    await service.events.publish(
      tx,
      'order.paid',
      {
        order_id: settled.id,
        user_id: ref.lease.owner,
        total_cents: settled.total_cents,
        currency: settled.currency,
        items: settled.items,
        paid_at: settled.paid_at,
      },
      { traceparent: ref.traceparent },
    );
  }
  return answer(tx, ref, 201, settled);
}

async function reserve(
  tx: DatabaseClient,
  step: Step,
  currency: string,
): Promise<FinalAnswer | { orderId: string }> {
  const ids = step.request.items.map((i) => i.product_id);
  // Locked in id order, as every order does, so that two orders for the same products never deadlock.
  const { rows: products } = await tx.query<{ id: string; name: string; price_cents: number; stock: number }>(
    'SELECT id, name, price_cents, stock FROM products WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE',
    [ids],
  );
  const byId = new Map(products.map((p) => [p.id, p]));
  const unknown = ids.filter((id) => !byId.has(id));
  if (unknown.length > 0) {
    return answer(tx, step, 400, {
      error: {
        code: 'UNKNOWN_PRODUCT',
        message: 'Some products of the order do not exist.',
        details: unknown.map((product_id) => ({ product_id })),
      },
    });
  }
  const short = step.request.items
    .filter((i) => byId.get(i.product_id)!.stock < i.quantity)
    .map((i) => ({
      product_id: i.product_id,
      requested: i.quantity,
      available: byId.get(i.product_id)!.stock,
    }));
  if (short.length > 0) {
    return answer(tx, step, 409, {
      error: {
        code: 'OUT_OF_STOCK',
        message: 'Not enough stock for some items of the order.',
        details: short,
      },
    });
  }
  const orderId = randomUUID();
  const total = step.request.items.reduce(
    (sum, i) => sum + i.quantity * byId.get(i.product_id)!.price_cents,
    0,
  );
  if (total > ORDERS_DEFAULTS.order.maxTotalCents) {
    return answer(tx, step, 400, {
      error: {
        code: 'ORDER_TOO_LARGE',
        message: `An order may come to at most ${ORDERS_DEFAULTS.order.maxTotalCents} cents; split it.`,
      },
    });
  }
  const last4 = step.request.card_number.replace(/\D/g, '').slice(-4);
  await tx.query(
    `INSERT INTO orders (id, owner, status, total_cents, currency, card_last4) VALUES ($1, $2, 'pending', $3, $4, $5)`,
    [orderId, step.lease.owner, total, currency, last4],
  );
  await tx.query(
    `INSERT INTO order_items (order_id, product_id, name, quantity, unit_price_cents)
     SELECT $1, p.id, p.name, i.quantity, p.price_cents
       FROM unnest($2::uuid[], $3::int[]) AS i (product_id, quantity) JOIN products p ON p.id = i.product_id`,
    [orderId, ids, step.request.items.map((i) => i.quantity)],
  );
  await tx.query(
    `UPDATE products p SET stock = p.stock - i.quantity, updated_at = now()
       FROM unnest($1::uuid[], $2::int[]) AS i (product_id, quantity) WHERE p.id = i.product_id`,
    [ids, step.request.items.map((i) => i.quantity)],
  );
  await tx.query('UPDATE idempotency_keys SET order_id = $3 WHERE owner = $1 AND key = $2', [
    step.lease.owner,
    step.lease.key,
    orderId,
  ]);
  return { orderId };
}

/** Records `body` as the key's final answer and returns it, serialised once so replays match byte for byte. */
async function answer(
  tx: DatabaseClient,
  ref: KeyRef,
  status: number,
  body: Order | { error: unknown },
): Promise<FinalAnswer> {
  const text = JSON.stringify(body);
  await completeKey(tx, ref.lease, status, text);
  return { status, body: text };
}

import { HttpError, type RequestContext, type Service } from '@flotilla/runtime';
import { z } from 'zod';
import { requireSubject } from './caller.ts';
import { cancelOrder } from './cancel-order.ts';
import { ORDERS_DEFAULTS } from './defaults.ts';
import { type IdempotencyKeys, LeaseLostError, requestHash } from './idempotency.ts';
import { listOrders, loadOrder } from './order-store.ts';
import { decodeCursor, encodeCursor } from './page-cursor.ts';
import { type PaymentsClient, PaymentsUnavailableError } from './payments-client.ts';
import { placeOrder } from './place-order.ts';

const { order: limits, page, idempotencyKey, retryAfterS } = ORDERS_DEFAULTS;
const KEY = /^[\x21-\x7e]+$/;
/** A timestamptz as PostgreSQL prints it: what order-store puts in a page cursor. */
const PG_TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?$/;

const orderRequest = z.object({
  items: z
    .array(z.object({ product_id: z.uuid(), quantity: z.int().min(1).max(limits.maxQuantity) }))
    .min(1)
    .max(limits.maxItems)
    .refine((items) => new Set(items.map((i) => i.product_id)).size === items.length, {
      message: 'list each product once, with its whole quantity',
    }),
  // The number's own checks (Luhn, brand) are payments' to make; here only its shape.
  card_number: z
    .string()
    .max(40)
    .refine((v) => /^[\d ]+$/.test(v) && /^\d{13,19}$/.test(v.replaceAll(' ', '')), {
      message: 'expected the card number: 13 to 19 digits, spaces allowed',
    }),
});

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(page.maxSize).default(page.defaultSize),
  cursor: z.string().max(300).optional(),
});

const orderId = z.uuid();

/**
 * The order routes. Every route is the caller's own: an order of anyone else answers 404, exactly
 * as an order that does not exist, so ids cannot be probed.
 */
export function registerOrders(
  service: Service,
  payments: PaymentsClient,
  keys: IdempotencyKeys,
  settings: { currency: string; requestHashKey: string },
): void {
  const { currency, requestHashKey } = settings;
  service.post('/api/orders/v1/orders', { body: orderRequest }, async (ctx) => {
    const owner = requireSubject(ctx);
    const key = idempotencyKeyOf(ctx);
    const claim = await keys.claim(owner, key, requestHash(ctx.body, requestHashKey));
    if (claim.kind === 'mismatch') {
      throw new HttpError(
        422,
        'IDEMPOTENCY_KEY_REUSED',
        'This Idempotency-Key was used with another request body; use a new key for a new order.',
      );
    }
    if (claim.kind === 'busy') throw requestInProgress();
    if (claim.kind === 'replay') return send(ctx, claim.status, claim.body, true);
    try {
      const final = await keys.hold(claim.lease, () =>
        placeOrder(
          service,
          payments,
          keys,
          { lease: claim.lease, request: ctx.body, traceparent: traceparentOf(ctx) },
          claim.orderId,
          currency,
        ),
      );
      return send(ctx, final.status, final.body, false);
    } catch (error) {
      // This request stalled past its claim and a retry took the key over: that one answers.
      if (error instanceof LeaseLostError) throw requestInProgress();
      if (error instanceof PaymentsUnavailableError) {
        ctx.log.warn({ err: error }, 'payments unavailable; the order stays pending until a retry');
        throw new HttpError(
          503,
          'PAYMENT_UNAVAILABLE',
          'The payment could not be processed right now; retry with the same Idempotency-Key.',
          { headers: { 'retry-after': String(retryAfterS) } },
        );
      }
      throw error;
    }
  });

  service.get('/api/orders/v1/orders', { query: listQuery }, async (ctx) => {
    const owner = requireSubject(ctx);
    const after = ctx.query.cursor ? decodeCursor(ctx.query.cursor, isKeysetCursor) : undefined;
    const { orders, last, more } = await listOrders(service.db, owner, ctx.query.limit, after);
    return { items: orders, next_cursor: more && last ? encodeCursor(last) : null };
  });

  service.get('/api/orders/v1/orders/:id', async (ctx) => {
    const owner = requireSubject(ctx);
    const order = orderId.safeParse(ctx.params.id).success
      ? await loadOrder(service.db, ctx.params.id, owner)
      : undefined;
    if (!order) throw orderNotFound();
    return order;
  });

  service.post('/api/orders/v1/orders/:id/cancel', async (ctx) => {
    const owner = requireSubject(ctx);
    if (!orderId.safeParse(ctx.params.id).success) throw orderNotFound();
    try {
      const order = await cancelOrder(service, payments, ctx.params.id, owner, traceparentOf(ctx));
      if (!order) throw orderNotFound();
      return order;
    } catch (error) {
      if (error instanceof PaymentsUnavailableError) {
        ctx.log.warn({ err: error }, 'refund unavailable; the order stays paid until a retry');
        throw new HttpError(
          503,
          'PAYMENT_UNAVAILABLE',
          'The refund could not be made right now; retry the cancellation.',
          {
            headers: { 'retry-after': String(retryAfterS) },
          },
        );
      }
      throw error;
    }
  });
}

/** The request's Idempotency-Key; 400 when missing or malformed. */
function idempotencyKeyOf(ctx: RequestContext): string {
  const key = ctx.headers['idempotency-key'];
  if (typeof key !== 'string' || key.length === 0) {
    throw new HttpError(
      400,
      'IDEMPOTENCY_KEY_REQUIRED',
      'Send an Idempotency-Key header (a new random value, such as a UUID, per order) so that a retry cannot order twice.',
    );
  }
  if (key.length > idempotencyKey.maxLength || !KEY.test(key)) {
    throw new HttpError(
      400,
      'IDEMPOTENCY_KEY_INVALID',
      `The Idempotency-Key must be 1 to ${idempotencyKey.maxLength} printable ASCII characters without spaces.`,
    );
  }
  return key;
}

/** Writes a recorded answer as is, so that a replay is byte for byte the first response. */
function send(ctx: RequestContext, status: number, body: string, replayed: boolean): void {
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  };
  if (replayed) headers['idempotent-replayed'] = 'true';
  ctx.res.writeHead(status, headers);
  ctx.res.end(body);
}

function traceparentOf(ctx: RequestContext): string | undefined {
  const value = ctx.headers.traceparent;
  return typeof value === 'string' ? value : undefined;
}

function isKeysetCursor(value: unknown): value is { t: string; id: string } {
  const v = value as { t?: unknown; id?: unknown } | null;
  return (
    typeof v?.t === 'string' &&
    PG_TIMESTAMP.test(v.t) &&
    typeof v.id === 'string' &&
    orderId.safeParse(v.id).success
  );
}

function requestInProgress(): HttpError {
  return new HttpError(
    409,
    'REQUEST_IN_PROGRESS',
    'A request with this Idempotency-Key is still being handled; retry shortly.',
    { headers: { 'retry-after': String(retryAfterS) } },
  );
}

function orderNotFound(): HttpError {
  return new HttpError(404, 'ORDER_NOT_FOUND', 'You have no order with this id.');
}

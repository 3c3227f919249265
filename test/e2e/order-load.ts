/**
 * The well-behaved client of the fault tests, and the check from outside that follows them.
 *
 * The client places orders through the gateway at a steady rate, each with its own
 * Idempotency-Key, and retries the same key while the shop says "try again" (503, 429, 502, 504,
 * 409 REQUEST_IN_PROGRESS, a connection error or a timeout), waiting as long as Retry-After asks.
 * Everything else is an answer a client cannot act on and is reported as a hard error. The check
 * then reads the databases and the SMTP sink: what the client was told must be what happened.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningShop } from './shop.ts';
import { waitFor } from './support.ts';

const APPROVING_CARD = '4242 4242 4242 4242';

/** A customer the load orders for. */
export interface LoadCustomer {
  id: string;
  email: string;
  token: string;
}

export interface OrderLoadOptions {
  /** The product every order buys one unit of. */
  productId: string;
  /** Orders rotate over these customers. */
  customers: readonly LoadCustomer[];
  /** New orders started per second. Default 10. */
  ratePerS?: number;
  /** Orders in flight at most (a new one waits for a free slot). Default 40. */
  maxInFlight?: number;
  /** How long one order keeps retrying its key before the client gives up on it. Default 60 s. */
  orderDeadlineMs?: number;
  /** One attempt's timeout. Default 10 s. */
  attemptTimeoutMs?: number;
  /** Orders started at most, whatever the duration. Default 5000. */
  maxOrders?: number;
}

/** One request the client sent, in ms since the load started. */
export interface Attempt {
  key: string;
  startMs: number;
  endMs: number;
  /** `201`, `503 DATABASE_UNAVAILABLE`, `409 REQUEST_IN_PROGRESS`, `connection error`, `timeout`... */
  outcome: string;
}

/** An order the shop answered 201 for. */
export interface AcknowledgedOrder {
  key: string;
  id: string;
  status: string;
  customerId: string;
  email: string;
  atMs: number;
}

export interface OrderLoadReport {
  durationMs: number;
  /** Orders started (keys used). */
  orders: number;
  acknowledged: AcknowledgedOrder[];
  /** Keys the client gave up on: no 201 within the order deadline, or a hard error. */
  givenUp: { key: string; last: string }[];
  attempts: Attempt[];
  /** Attempts that did not answer 201, counted by outcome. */
  retried: Record<string, number>;
  /** Answers a retrying client cannot act on (500, 401, 400, ...), with their bodies. */
  hardErrors: string[];
  /** The longest time in which no attempt answered 201, while the load ran. */
  longestGapMs: number;
}

/** A running load; `now()` is the load's clock, to mark when a fault was injected. */
export interface OrderLoad {
  now(): number;
  /** Orders answered 201 so far. */
  acknowledgedCount(): number;
  /** Stops starting orders, waits for those in flight to finish (or give up), and reports. */
  stop(): Promise<OrderLoadReport>;
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

/** Starts the client: orders begin at once and continue until `stop()`. */
export function startOrderLoad(shop: RunningShop, options: OrderLoadOptions): OrderLoad {
  const ratePerS = options.ratePerS ?? 10;
  const maxInFlight = options.maxInFlight ?? 40;
  const orderDeadlineMs = options.orderDeadlineMs ?? 60_000;
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 10_000;
  const maxOrders = options.maxOrders ?? 5_000;
  const started = performance.now();
  const now = () => performance.now() - started;

  const acknowledged: AcknowledgedOrder[] = [];
  const givenUp: OrderLoadReport['givenUp'] = [];
  const attempts: Attempt[] = [];
  const hardErrors: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  let orders = 0;

  const attempt = async (
    key: string,
    customer: LoadCustomer,
  ): Promise<{ outcome: string; waitMs: number }> => {
    const startMs = now();
    let outcome: string;
    let waitMs = 100 + Math.random() * 200;
    try {
      const res = await fetch(`${shop.gatewayUrl}/api/orders/v1/orders`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${customer.token}`,
          'content-type': 'application/json',
          'idempotency-key': key,
        },
        body: JSON.stringify({
          items: [{ product_id: options.productId, quantity: 1 }],
          card_number: APPROVING_CARD,
        }),
        signal: AbortSignal.timeout(attemptTimeoutMs),
      });
      const text = await res.text();
      let code = '';
      let body: { id?: string; status?: string; error?: { code?: string } } = {};
      try {
        body = JSON.parse(text);
        code = body.error?.code ?? '';
      } catch {
        // not JSON: the outcome is the status alone
      }
      outcome = code ? `${res.status} ${code}` : String(res.status);
      const retryAfterS = Number(res.headers.get('retry-after'));
      if (Number.isFinite(retryAfterS) && retryAfterS > 0) waitMs = Math.min(retryAfterS * 1_000, 5_000);
      if (res.status === 201) {
        acknowledged.push({
          key,
          id: body.id!,
          status: body.status!,
          customerId: customer.id,
          email: customer.email,
          atMs: now(),
        });
      } else if (!RETRYABLE_STATUS.has(res.status) && code !== 'REQUEST_IN_PROGRESS') {
        hardErrors.push(`${key}: ${res.status} ${text.slice(0, 300)}`);
        outcome = `hard ${outcome}`;
      }
    } catch (error) {
      const name = (error as Error).name;
      outcome = name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'connection error';
    }
    attempts.push({ key, startMs, endMs: now(), outcome });
    return { outcome, waitMs };
  };

  const order = async (key: string, customer: LoadCustomer) => {
    const deadline = now() + orderDeadlineMs;
    for (;;) {
      const { outcome, waitMs } = await attempt(key, customer);
      if (outcome === '201') return;
      if (outcome.startsWith('hard ') || now() + waitMs > deadline) {
        givenUp.push({ key, last: outcome });
        return;
      }
      await sleep(waitMs);
    }
  };

  const driver = (async () => {
    const intervalMs = 1_000 / ratePerS;
    let next = now();
    while (!stopped && orders < maxOrders) {
      if (inFlight.size < maxInFlight) {
        const customer = options.customers[orders % options.customers.length]!;
        orders++;
        const running = order(randomUUID(), customer).finally(() => inFlight.delete(running));
        inFlight.add(running);
      }
      next += intervalMs;
      await sleep(Math.max(0, next - now()));
    }
  })();

  return {
    now,
    acknowledgedCount: () => acknowledged.length,
    async stop() {
      stopped = true;
      await driver;
      while (inFlight.size > 0) await Promise.all(inFlight);
      const durationMs = now();
      const retried: Record<string, number> = {};
      for (const a of attempts) if (a.outcome !== '201') retried[a.outcome] = (retried[a.outcome] ?? 0) + 1;
      return {
        durationMs,
        orders,
        acknowledged,
        givenUp,
        attempts,
        retried,
        hardErrors,
        longestGapMs: longestGap(attempts, durationMs),
      };
    },
  };
}

/** The longest stretch of the run in which no attempt ended with a 201. */
function longestGap(attempts: readonly Attempt[], durationMs: number): number {
  const successes = attempts
    .filter((a) => a.outcome === '201')
    .map((a) => a.endMs)
    .sort((a, b) => a - b);
  let last = 0;
  let longest = 0;
  for (const t of successes) {
    longest = Math.max(longest, t - last);
    last = t;
  }
  return Math.max(longest, durationMs - last);
}

/**
 * How long after `faultMs` orders succeeded again: until the end of the first attempt that started
 * at or after the fault and answered 201. Null when none did.
 */
export function recoveryMs(report: OrderLoadReport, faultMs: number): number | null {
  let first: number | null = null;
  for (const a of report.attempts) {
    if (a.outcome === '201' && a.startMs >= faultMs && (first === null || a.endMs < first)) first = a.endMs;
  }
  return first === null ? null : first - faultMs;
}

/** Attempts that did not answer 201, counted by outcome, among those that started in [fromMs, toMs). */
export function outcomesBetween(
  report: OrderLoadReport,
  fromMs: number,
  toMs = Infinity,
): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of report.attempts) {
    if (a.startMs < fromMs || a.startMs >= toMs) continue;
    counts[a.outcome] = (counts[a.outcome] ?? 0) + 1;
  }
  return counts;
}

/** One line for a test's log: what the client saw. */
export function describeLoad(report: OrderLoadReport): string {
  const retried = Object.entries(report.retried)
    .map(([k, n]) => `${n} x ${k}`)
    .join(', ');
  return (
    `${report.orders} orders in ${(report.durationMs / 1_000).toFixed(1)} s: ${report.acknowledged.length} acknowledged, ` +
    `${report.givenUp.length} given up, ${report.attempts.length} attempts` +
    (retried ? ` (not 201: ${retried})` : '') +
    `, longest gap without a 201 ${Math.round(report.longestGapMs)} ms`
  );
}

/**
 * Checks from outside, against the databases and the SMTP sink, that the shop did what it told
 * the client, for the orders of this load (its keys and its product):
 * - every acknowledged order exists under its key and is paid or payment_failed;
 * - each key has at most one order, and no order of the product belongs to a key the client did
 *   not send;
 * - each paid order has exactly one approved charge and one processor authorization, and no
 *   order that is not paid holds an approved charge;
 * - the product's stock is its initial stock less the units of its paid and pending orders;
 * - each paid order gets exactly one receipt email (waited for, up to `mailTimeoutMs`).
 * Throws with every failed check named.
 */
export async function verifyOrders(
  shop: RunningShop,
  report: OrderLoadReport,
  productId: string,
  initialStock: number,
  mailTimeoutMs = 60_000,
): Promise<void> {
  const problems: string[] = [];
  const keys = [...new Set(report.attempts.map((a) => a.key))];
  const byKey = await shop.sql<{ key: string; id: string; status: string }>(
    'orders',
    `SELECT k.key, o.id, o.status FROM idempotency_keys k JOIN orders o ON o.id = k.order_id
      WHERE k.key = ANY($1::text[])`,
    [keys],
  );
  const orderOfKey = new Map<string, { id: string; status: string }>();
  for (const row of byKey) {
    if (orderOfKey.has(row.key)) problems.push(`key ${row.key} has more than one order`);
    orderOfKey.set(row.key, row);
  }
  for (const ack of report.acknowledged) {
    const found = orderOfKey.get(ack.key);
    if (!found) problems.push(`acknowledged order ${ack.id} (key ${ack.key}) is not in the database`);
    else if (found.id !== ack.id)
      problems.push(`key ${ack.key} was answered ${ack.id} but holds ${found.id}`);
    else if (found.status !== 'paid' && found.status !== 'payment_failed')
      problems.push(`acknowledged order ${ack.id} is ${found.status}`);
  }

  const ofProduct = await shop.sql<{ id: string; status: string }>(
    'orders',
    `SELECT DISTINCT o.id, o.status FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id = $1`,
    [productId],
  );
  const known = new Set([...orderOfKey.values()].map((o) => o.id));
  const strays = ofProduct.filter((o) => !known.has(o.id));
  if (strays.length > 0) problems.push(`${strays.length} orders of the product belong to no key of the load`);

  const paid = ofProduct.filter((o) => o.status === 'paid').map((o) => o.id);
  const charges = await shop.sql<{ order_id: string; status: string; authorizations: number }>(
    'payments',
    `SELECT c.order_id, c.status,
            (SELECT count(*)::int FROM payment_processor_calls p
              WHERE p.charge_id = c.id AND p.operation = 'authorize') AS authorizations
       FROM payment_charges c WHERE c.order_id = ANY($1::uuid[])`,
    [ofProduct.map((o) => o.id)],
  );
  const chargesOf = new Map<string, typeof charges>();
  for (const c of charges) chargesOf.set(c.order_id, [...(chargesOf.get(c.order_id) ?? []), c]);
  for (const id of paid) {
    const mine = chargesOf.get(id) ?? [];
    if (mine.length !== 1 || mine[0]!.status !== 'approved' || mine[0]!.authorizations !== 1)
      problems.push(`paid order ${id} has charges ${JSON.stringify(mine)}, not one approved authorization`);
  }
  const paidSet = new Set(paid);
  const strayCharges = charges.filter((c) => c.status === 'approved' && !paidSet.has(c.order_id));
  if (strayCharges.length > 0)
    problems.push(`${strayCharges.length} approved charges of orders that are not paid`);

  const [stock] = await shop.sql<{ stock: number; held: number }>(
    'orders',
    `SELECT p.stock,
            (SELECT coalesce(sum(i.quantity), 0)::int FROM order_items i JOIN orders o ON o.id = i.order_id
              WHERE i.product_id = p.id AND o.status IN ('paid', 'pending')) AS held
       FROM products p WHERE p.id = $1`,
    [productId],
  );
  if (!stock || stock.stock + stock.held !== initialStock)
    problems.push(
      `stock ${stock?.stock} + ${stock?.held} units in paid or pending orders is not ${initialStock}`,
    );

  if (problems.length === 0 && paid.length > 0) {
    const receipts = () =>
      shop.sql<{ order_id: string; n: number }>(
        'notifications',
        `SELECT substring(body from 'your order ([0-9a-f-]{36})') AS order_id, count(*)::int AS n
           FROM notifications WHERE event_type = 'order.paid' AND channel = 'email' AND status = 'sent'
          GROUP BY 1`,
      );
    let sent = new Map<string, number>();
    try {
      await waitFor(
        `a receipt for each of ${paid.length} paid orders`,
        async () => {
          sent = new Map((await receipts()).map((r) => [r.order_id, r.n]));
          return paid.every((id) => sent.has(id));
        },
        mailTimeoutMs,
      );
    } catch {
      problems.push(
        `${paid.filter((id) => !sent.has(id)).length} of ${paid.length} paid orders have no receipt sent`,
      );
    }
    const twice = paid.filter((id) => (sent.get(id) ?? 0) > 1);
    if (twice.length > 0) problems.push(`${twice.length} paid orders have more than one receipt`);
    const subjects: string[] = [];
    for (const email of new Set(report.acknowledged.map((a) => a.email))) {
      subjects.push(...(await shop.mail(email)).map((m) => m.subject));
    }
    for (const id of paid) {
      const n = subjects.filter((s) => s === `Your order ${id.slice(0, 8)} is paid`).length;
      if (n !== 1) problems.push(`the SMTP sink holds ${n} receipts for order ${id}`);
    }
  }

  if (problems.length > 0) {
    throw new Error(`the shop did not do what it told the client:\n- ${problems.slice(0, 20).join('\n- ')}`);
  }
}

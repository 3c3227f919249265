/**
 * After the load: did the shop do the work it answered 201 for? Every order paid once, stock that
 * adds up, the order events delivered and the receipts mailed. A benchmark that skipped this could
 * be measuring errors served fast.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SystemStatus } from '@flotilla/control-plane/types';
import type { Product } from './shop-api.ts';
import { INITIAL_STOCK, type OrderTally } from './shop-flow.ts';
import type { RunningShop } from './shop-system.ts';

/** The events and notifications still waiting somewhere in the pipeline. */
export interface Backlog {
  /** Events written by orders and users but not yet relayed to the bus. */
  outbox: number;
  /** Events on the bus that notifications has not acknowledged. */
  bus: number;
  /** Notifications written but not yet delivered. */
  pendingNotifications: number;
  /** Receipt emails (order.paid, email) delivered so far. */
  sentReceipts: number;
  /** When this was read, in seconds of performance.now(). */
  atS: number;
}

const count = async (shop: RunningShop, database: string, sql: string, params?: unknown[]): Promise<number> =>
  Number((await shop.sql<{ n: string }>(database, sql, params))[0]!.n);

/** What is still in flight between the order and its email. */
export async function backlog(shop: RunningShop): Promise<Backlog> {
  const [orders, users, bus, pending, sent] = await Promise.all([
    count(shop, 'orders', 'SELECT count(*) AS n FROM flotilla_outbox'),
    count(shop, 'users', 'SELECT count(*) AS n FROM flotilla_outbox'),
    count(shop, 'bus', 'SELECT count(*) AS n FROM flotilla_bus_messages'),
    count(shop, 'notifications', `SELECT count(*) AS n FROM notifications WHERE status = 'pending'`),
    count(
      shop,
      'notifications',
      `SELECT count(*) AS n FROM notifications WHERE event_type = 'order.paid' AND channel = 'email' AND status = 'sent'`,
    ),
  ]);
  return {
    outbox: orders + users,
    bus,
    pendingNotifications: pending,
    sentReceipts: sent,
    atS: performance.now() / 1_000,
  };
}

const empty = (b: Backlog) => b.outbox === 0 && b.bus === 0 && b.pendingNotifications === 0;

/** How the wait for the pipeline to empty went. */
export interface Drain {
  waitedS: number;
  /** Receipts delivered per second while waiting (the notification sender's pace once the load stopped). */
  receiptsPerS: number;
  done: boolean;
  left: Backlog;
}

/**
 * Waits until nothing is in flight, for at most `timeoutS`, or until nothing moved for
 * `stallS`: the benchmark is bounded in time, so a pipeline far behind is reported, not waited out.
 */
export async function drain(shop: RunningShop, timeoutS: number, stallS = 20): Promise<Drain> {
  const started = performance.now();
  const first = await backlog(shop);
  let last = first;
  let movedAt = started;
  while (!empty(last) && performance.now() - started < timeoutS * 1_000) {
    await sleep(1_000);
    const now = await backlog(shop);
    const moved =
      now.sentReceipts !== last.sentReceipts ||
      now.pendingNotifications !== last.pendingNotifications ||
      now.outbox !== last.outbox ||
      now.bus !== last.bus;
    if (moved) movedAt = performance.now();
    last = now;
    if (performance.now() - movedAt > stallS * 1_000) break;
  }
  const waitedS = (performance.now() - started) / 1_000;
  return {
    waitedS,
    receiptsPerS: waitedS > 0 ? (last.sentReceipts - first.sentReceipts) / waitedS : 0,
    done: empty(last),
    left: last,
  };
}

/** One check after the load: what was expected, what was found. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

const ORDER_ID = `substring(body from 'your order ([0-9a-f-]{36})')`;

/** Compares what clients were told (the tally) with the databases, the SMTP sink and the instances. */
export async function verify(
  shop: RunningShop,
  tally: OrderTally,
  products: Product[],
  customerIds: string[],
  statusAtStart: SystemStatus,
  /** False when the pipeline had not emptied: the sender may be between the sink's OK and its commit. */
  settled: boolean,
): Promise<Check[]> {
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const sample = (ids: Iterable<string>) => [...ids].slice(0, 3).join(', ');

  const orders = await shop.sql<{ id: string; status: string }>('orders', 'SELECT id, status FROM orders');
  const statusOf = new Map(orders.map((o) => [o.id, o.status]));
  const notPaid = [...tally.paid].filter((id) => statusOf.get(id) !== 'paid');
  check(
    'every 201 order is paid in the orders database',
    notPaid.length === 0,
    `${tally.paid.size} orders answered 201; ${notPaid.length} of them not paid${notPaid.length ? ` (${sample(notPaid)})` : ''}`,
  );
  const unanswered = orders.filter((o) => !tally.paid.has(o.id));
  const byStatus = new Map<string, number>();
  for (const o of unanswered) byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
  check(
    'no order exists that its client was not told about',
    unanswered.length === 0,
    unanswered.length === 0
      ? `${orders.length} orders in the database, all answered 201`
      : `${unanswered.length} orders without a 201: ${[...byStatus].map(([s, n]) => `${n} ${s}`).join(', ')}`,
  );

  const charges = await shop.sql<{ order_id: string; status: string; authorizations: string }>(
    'payments',
    `SELECT c.order_id, c.status, count(p.id) FILTER (WHERE p.operation = 'authorize') AS authorizations
       FROM payment_charges c LEFT JOIN payment_processor_calls p ON p.charge_id = c.id GROUP BY c.id`,
  );
  const chargeOf = new Map(charges.map((c) => [c.order_id, c]));
  const paidIds = orders.filter((o) => o.status === 'paid').map((o) => o.id);
  const badCharge = paidIds.filter((id) => {
    const c = chargeOf.get(id);
    return c?.status !== 'approved' || Number(c.authorizations) !== 1;
  });
  const strayCharges = charges.filter((c) => statusOf.get(c.order_id) !== 'paid');
  check(
    'one approved charge and one processor call per paid order',
    badCharge.length === 0 && strayCharges.length === 0,
    `${charges.length} charges for ${paidIds.length} paid orders; ${badCharge.length} paid orders without exactly one ` +
      `approved, once-authorised charge${badCharge.length ? ` (${sample(badCharge)})` : ''}; ` +
      `${strayCharges.length} charges of orders not paid`,
  );

  const stock = await shop.sql<{ id: string; stock: number; sold: string }>(
    'orders',
    `SELECT p.id, p.stock, coalesce(sum(i.quantity) FILTER (WHERE o.status IN ('paid', 'pending')), 0) AS sold
       FROM products p LEFT JOIN order_items i ON i.product_id = p.id LEFT JOIN orders o ON o.id = i.order_id
      WHERE p.id = ANY($1::uuid[]) GROUP BY p.id`,
    [products.map((p) => p.id)],
  );
  const wrongStock = stock.filter(
    (p) =>
      p.stock !== INITIAL_STOCK - Number(p.sold) || Number(p.sold) !== (tally.unitsByProduct.get(p.id) ?? 0),
  );
  const sold = stock.reduce((sum, p) => sum + Number(p.sold), 0);
  check(
    'stock adds up: initial - sold, and sold = units of the 201 orders',
    wrongStock.length === 0 && stock.length === products.length,
    `${products.length} products of ${INITIAL_STOCK.toLocaleString('en-US')} units, ${sold} units sold; ` +
      `${wrongStock.length} products where stock, order items and 201 answers disagree` +
      (wrongStock.length
        ? ` (${wrongStock.map((p) => `${p.stock} left, ${p.sold} in orders, ${tally.unitsByProduct.get(p.id) ?? 0} answered`).join('; ')})`
        : ''),
  );

  const receipts = await shop.sql<{ order_id: string | null; status: string; n: string }>(
    'notifications',
    `SELECT ${ORDER_ID} AS order_id, status, count(*) AS n FROM notifications
      WHERE event_type = 'order.paid' AND channel = 'email' GROUP BY 1, 2`,
  );
  const receiptStatus = new Map<string, string>();
  let duplicates = 0;
  for (const r of receipts) {
    if (r.order_id === null) continue;
    if (receiptStatus.has(r.order_id) || Number(r.n) > 1) duplicates++;
    receiptStatus.set(r.order_id, r.status);
  }
  const noReceipt = paidIds.filter((id) => !receiptStatus.has(id));
  const counts = { sent: 0, pending: 0, failed: 0 } as Record<string, number>;
  for (const id of paidIds) {
    const s = receiptStatus.get(id);
    if (s) counts[s] = (counts[s] ?? 0) + 1;
  }
  check(
    'every paid order has one receipt email queued (order.paid reached notifications)',
    noReceipt.length === 0 && duplicates === 0,
    `${paidIds.length - noReceipt.length} of ${paidIds.length} paid orders have a receipt` +
      `${noReceipt.length ? ` (missing: ${sample(noReceipt)})` : ''}; ${duplicates} orders with more than one`,
  );
  check(
    'every receipt email was sent',
    counts.sent === paidIds.length,
    `${counts.sent} sent, ${counts.pending} still pending, ${counts.failed} failed`,
  );

  const welcomes = await count(
    shop,
    'notifications',
    `SELECT count(DISTINCT user_id) AS n FROM notifications
      WHERE event_type = 'user.registered' AND channel = 'email' AND user_id = ANY($1::text[])`,
    [customerIds],
  );
  check(
    'every customer got a welcome email queued',
    welcomes === customerIds.length,
    `${welcomes} of ${customerIds.length}`,
  );

  checks.push(await sinkCheck(shop, settled));

  const [deadLetters] = await shop.sql<{ n: string }>(
    'notifications',
    'SELECT count(*) AS n FROM flotilla_dead_letters',
  );
  check('no dead letters', Number(deadLetters!.n) === 0, `${deadLetters!.n} in notifications`);

  const restarts = (s: SystemStatus) =>
    new Map(s.services.flatMap((svc) => svc.instances.map((i) => [i.id, `${i.pid}/${i.restarts}`] as const)));
  const before = restarts(statusAtStart);
  const after = restarts(await shop.status());
  const changed = [...after].filter(([id, v]) => before.get(id) !== v).map(([id]) => id);
  check(
    'no instance restarted or was replaced during the run',
    changed.length === 0,
    changed.length === 0 ? `${after.size} instances, same pids throughout` : `changed: ${changed.join(', ')}`,
  );
  return checks;
}

interface SinkMessage {
  messageId: string;
  subject: string;
  receivedCount: number;
}

/**
 * The SMTP sink keeps the newest 1000 messages only (MAIL_DEFAULTS.limits.maxMessages), so this
 * checks those: each is a notification marked sent, and none arrived twice. While the sender still
 * runs, one message may be in the sink before its notification is marked sent.
 */
async function sinkCheck(shop: RunningShop, settled: boolean): Promise<Check> {
  const { messages } = await shop.admin<{ messages: SinkMessage[] }>('/v1/mail?limit=1000');
  const ids = messages
    .map((m) => /^<([0-9a-f-]{36})@/.exec(m.messageId)?.[1])
    .filter((id) => id !== undefined);
  const sent = await shop.sql<{ id: string }>(
    'notifications',
    `SELECT id FROM notifications WHERE channel = 'email' AND status = 'sent' AND id = ANY($1::uuid[])`,
    [ids],
  );
  const [emailsSent] = await shop.sql<{ n: string }>(
    'notifications',
    `SELECT count(*) AS n FROM notifications WHERE channel = 'email' AND status = 'sent'`,
  );
  const expected = Math.min(1_000, Number(emailsSent!.n));
  const twice = messages.filter((m) => m.receivedCount > 1).length;
  const slack = settled ? 0 : 1;
  return {
    name: 'the SMTP sink holds the emails marked sent (its newest 1000)',
    ok:
      ids.length - sent.length <= slack &&
      ids.length === messages.length &&
      Math.abs(messages.length - expected) <= slack &&
      twice === 0,
    detail:
      `${messages.length} messages in the sink (expected ${expected} of ${emailsSent!.n} emails sent), ` +
      `${sent.length} of them match a sent notification; ${twice} received more than once`,
  };
}

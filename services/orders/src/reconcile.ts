import { setTimeout as sleep } from 'node:timers/promises';
import type { BackgroundTask, Service } from '@flotilla/runtime';
import { tryLockKey } from './idempotency.ts';
import { inTransaction, settleOrder } from './place-order.ts';
import { type PaymentsClient, PaymentsUnavailableError } from './payments-client.ts';

/** When the reconciler looks, and at what. */
export interface ReconcileSettings {
  /** An order pending for longer than this has been given up on by its client. */
  pendingAfterMs: number;
  intervalMs: number;
  batch: number;
}

interface PendingRow {
  id: string;
  owner: string;
  key: string;
  total_cents: number;
  currency: string;
}

/**
 * Settles orders left pending: a client that got 503 PAYMENT_UNAVAILABLE and never retried, a
 * replica killed between the reserve and the settle with no retry after it, or a charge approved
 * just after orders stopped waiting for it. For each, under the key's lock (so never while a
 * request works on it), payments is asked to void the charge: a charge that has its answer keeps
 * it and the order is settled with it (paid, or failed with its stock back); a charge without one,
 * or none at all, is voided, so it can never take money later, and the order fails as `abandoned`
 * with its stock back. The answer is recorded on the key, so the client's late retry replays it.
 */
export function reconcilePending(
  service: Service,
  payments: PaymentsClient,
  settings: ReconcileSettings,
): BackgroundTask {
  const reconcile = async (order: PendingRow) => {
    const client = await service.db.connect();
    let broken = false;
    try {
      const release = await tryLockKey(client, order.owner, order.key);
      if (!release) return;
      try {
        const [still] = (
          await client.query<{ status: string }>('SELECT status FROM orders WHERE id = $1', [order.id])
        ).rows;
        if (still?.status !== 'pending') return;
        const outcome = await payments.void({
          orderId: order.id,
          amountCents: order.total_cents,
          currency: order.currency,
        });
        await inTransaction(client, (tx) =>
          settleOrder(
            service,
            tx,
            { owner: order.owner, key: order.key, traceparent: undefined },
            order.id,
            outcome,
          ),
        );
        service.log.info(
          { order_id: order.id, outcome: outcome.status, decline_code: outcome.decline_code },
          'settled an order left pending',
        );
      } finally {
        await release();
      }
    } catch (error) {
      broken = !(error instanceof PaymentsUnavailableError);
      service.log.warn(
        { err: error, order_id: order.id },
        'could not settle an order left pending; trying later',
      );
    } finally {
      client.release(broken);
    }
  };

  return async (signal) => {
    while (!signal.aborted) {
      const { rows } = await service.db.query<PendingRow>(
        `SELECT o.id, o.owner, k.key, o.total_cents, o.currency
           FROM orders o JOIN idempotency_keys k ON k.order_id = o.id
          WHERE o.status = 'pending' AND o.created_at < now() - make_interval(secs => $1::double precision / 1000)
          ORDER BY o.created_at LIMIT $2`,
        [settings.pendingAfterMs, settings.batch],
      );
      for (const order of rows) {
        if (signal.aborted) return;
        await reconcile(order);
      }
      await sleep(settings.intervalMs, undefined, { signal }).catch(() => undefined);
    }
  };
}

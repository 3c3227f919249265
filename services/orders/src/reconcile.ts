import { setTimeout as sleep } from 'node:timers/promises';
import type { BackgroundTask, Service } from '@flotilla/runtime';
import type { IdempotencyKeys } from './idempotency.ts';
import type { PaymentsClient } from './payments-client.ts';
import { settleOrder } from './place-order.ts';

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
 * just after orders stopped waiting for it. For each, under a claim on the key (so never while a
 * request works on it), payments is asked to void the charge: a charge that has its answer keeps
 * it and the order is settled with it (paid, or failed with its stock back); a charge without one,
 * or none at all, is voided, so it can never take money later, and the order fails as `abandoned`
 * with its stock back. The answer is recorded on the key, so the client's late retry replays it.
 */
export function reconcilePending(
  service: Service,
  payments: PaymentsClient,
  keys: IdempotencyKeys,
  settings: ReconcileSettings,
): BackgroundTask {
  const reconcile = async (order: PendingRow) => {
    try {
      // Only an unfinished key can be taken, and an order is settled with its key's answer in one
      // transaction: a taken key's order is still pending.
      const taken = await keys.take(order.owner, order.key);
      if (!taken) return;
      const ref = { lease: taken.lease, traceparent: undefined };
      await keys.hold(taken.lease, async () => {
        const outcome = await payments.void({
          orderId: order.id,
          amountCents: order.total_cents,
          currency: order.currency,
        });
        await keys.transaction(taken.lease, (tx) => settleOrder(service, tx, ref, order.id, outcome));
        service.log.info(
          { order_id: order.id, outcome: outcome.status, decline_code: outcome.decline_code },
          'settled an order left pending',
        );
      });
    } catch (error) {
      service.log.warn(
        { err: error, order_id: order.id },
        'could not settle an order left pending; trying later',
      );
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

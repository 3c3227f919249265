import type { Service } from '@flotilla/runtime';
import { HttpError } from '@flotilla/runtime';
import { loadOrder, type Order, releaseStock } from './order-store.ts';
import type { PaymentsClient } from './payments-client.ts';

/**
 * Cancels the owner's order: refunds the charge, puts the stock back and writes `order.cancelled`.
 * Safe to call again and concurrently: the refund is idempotent at payments, and only the call
 * whose update moves the order from paid to cancelled releases stock and writes the event, so
 * stock comes back exactly once. Undefined when the owner has no such order.
 */
export async function cancelOrder(
  service: Service,
  payments: PaymentsClient,
  id: string,
  owner: string,
  traceparent: string | undefined,
): Promise<Order | undefined> {
  const order = await loadOrder(service.db, id, owner);
  if (!order || order.status === 'cancelled') return order;
  if (order.status === 'pending') {
    throw new HttpError(
      409,
      'ORDER_PAYMENT_IN_PROGRESS',
      'The payment of this order is still in progress; retry shortly.',
      {
        headers: { 'retry-after': '1' },
      },
    );
  }
  if (order.status === 'payment_failed') {
    throw new HttpError(
      409,
      'ORDER_NOT_CANCELLABLE',
      'The payment of this order failed: there is nothing to cancel.',
    );
  }
  // Refund first: a crash after it leaves a paid, refunded order that the next cancel finishes.
  await payments.refund(id);
  return service.transaction(async (tx) => {
    const { rowCount } = await tx.query(
      `UPDATE orders SET status = 'cancelled', cancelled_at = now() WHERE id = $1 AND status = 'paid'`,
      [id],
    );
    const cancelled = (await loadOrder(tx, id, owner))!;
    if (rowCount === 1) {
      await releaseStock(tx, id);
      await service.events.publish(
        tx,
        'order.cancelled',
        {
          order_id: id,
          user_id: owner,
          total_cents: cancelled.total_cents,
          currency: cancelled.currency,
          refunded_cents: cancelled.total_cents,
          cancelled_at: cancelled.cancelled_at,
        },
        { traceparent },
      );
    }
    return cancelled;
  });
}

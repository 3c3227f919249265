import type { Logger } from '@flotilla/runtime';
import type { PaymentsDeps } from './charges.ts';
import { chargeNotFound, notRefundable } from './errors.ts';
import { recordCall } from './processor-calls.ts';
import {
  type ChargeRow,
  type ChargeView,
  chargeView,
  type RefundRow,
  type RefundView,
  refundView,
} from './views.ts';

/**
 * What a refund request came to: `refunded` when this request made the refund, `existing` when an
 * earlier one had, `retry` when the processor failed transiently this time.
 */
export type RefundOutcome =
  | { kind: 'refunded' | 'existing'; refund: RefundView; charge: ChargeView }
  | { kind: 'retry' };

/**
 * Refunds the whole charge of an order, once. Like charging, every request locks the charge row,
 * so concurrent refunds take turns and only the first calls the processor; the rest find the
 * refund it recorded (payment_refunds allows one per charge). What chargeOrder says about holding
 * the lock across the processor call holds here too.
 */
export async function refundOrder(deps: PaymentsDeps, orderId: string, log: Logger): Promise<RefundOutcome> {
  const outcome = await deps.transaction(async (tx): Promise<RefundOutcome> => {
    const charges = await tx.query<ChargeRow>(
      'SELECT * FROM payment_charges WHERE order_id = $1 FOR UPDATE',
      [orderId],
    );
    const charge = charges.rows[0];
    if (!charge) throw chargeNotFound(orderId);
    if (charge.status === 'refunded') {
      const refunds = await tx.query<RefundRow>('SELECT * FROM payment_refunds WHERE charge_id = $1', [
        charge.id,
      ]);
      return { kind: 'existing', refund: refundView(refunds.rows[0]!), charge: chargeView(charge) };
    }
    if (charge.status !== 'approved') throw notRefundable(orderId, charge.status);

    const result = await deps.processor.refund({
      idempotencyKey: charge.id,
      amountCents: charge.amount_cents,
      currency: charge.currency,
    });
    await recordCall(tx, charge.id, 'refund', result.outcome);
    const fields = { order_id: orderId, charge_id: charge.id };
    if (result.outcome === 'transient_error') {
      log.warn(
        { ...fields, reason: result.reason },
        'card processor failed transiently on a refund; the caller is told to retry',
      );
      return { kind: 'retry' };
    }
    const refund = await tx.query<RefundRow>(
      'INSERT INTO payment_refunds (charge_id, amount_cents) VALUES ($1, $2) RETURNING *',
      [charge.id, charge.amount_cents],
    );
    const refunded = await tx.query<ChargeRow>(
      `UPDATE payment_charges SET status = 'refunded', updated_at = now() WHERE id = $1 RETURNING *`,
      [charge.id],
    );
    log.info({ ...fields, amount_cents: charge.amount_cents }, 'charge refunded');
    return { kind: 'refunded', refund: refundView(refund.rows[0]!), charge: chargeView(refunded.rows[0]!) };
  });
  // Counted once committed: a refund that rolled back was never made.
  if (outcome.kind === 'refunded') deps.metrics.refunds.inc();
  return outcome;
}

import type { Logger, Service } from '@flotilla/runtime';
import type { CardProcessor } from './card-processor.ts';
import type { ChargeBody } from './charge-body.ts';
import { chargeMismatch } from './errors.ts';
import type { PaymentsMetrics } from './metrics.ts';
import { recordCall } from './processor-calls.ts';
import {
  type ChargeRow,
  type ChargeStatus,
  type ChargeView,
  chargeView,
  type RefundRow,
  type RefundView,
  refundView,
} from './views.ts';

/** What charging and refunding need. */
export interface PaymentsDeps {
  db: Service['db'];
  /** The service's transaction: one connection, committed when the work resolves. */
  transaction: Service['transaction'];
  processor: CardProcessor;
  metrics: PaymentsMetrics;
}

/**
 * What a charge request came to: `processed` when this request got the processor's final answer,
 * `existing` when an earlier one had, `retry` when the processor failed transiently this time.
 */
export type ChargeOutcome = { kind: 'processed' | 'existing'; charge: ChargeView } | { kind: 'retry' };

/**
 * Charges an order once, ever. Every request for an order locks the order's charge row (creating
 * it on the first one), so requests for the same order, from any replica, take turns; the one
 * holding the lock is the only one talking to the processor, and once the answer is final later
 * turns return it without calling the processor again.
 *
 * The lock is held across the processor call, which is fine for the in-process simulated
 * processor. A real processor's call is slow and can fail without an answer: it would get the
 * charge id as idempotency key (which AuthorizeRequest already carries) and be called outside the
 * lock, so that a retry of an unanswered call is deduplicated by the processor.
 */
export function chargeOrder(deps: PaymentsDeps, body: ChargeBody, log: Logger): Promise<ChargeOutcome> {
  const { order_id: orderId, amount_cents: amountCents, currency, card_number: card } = body;
  return deps.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO payment_charges (order_id, status, amount_cents, currency, card_brand, card_last4)
       VALUES ($1, 'processing', $2, $3, $4, $5)
       ON CONFLICT (order_id) DO NOTHING`,
      [orderId, amountCents, currency, card.brand, card.last4],
    );
    const { rows } = await tx.query<ChargeRow>(
      'SELECT * FROM payment_charges WHERE order_id = $1 FOR UPDATE',
      [orderId],
    );
    const charge = rows[0]!;
    // A void is final, whatever this request says: the order was abandoned.
    if (charge.status === 'voided') return { kind: 'existing', charge: chargeView(charge) };
    // The card is compared by brand and last four digits, all that is kept of it: another card
    // of the same brand ending in the same digits passes as the same card.
    const mismatched = [
      charge.amount_cents !== amountCents && 'amount_cents',
      charge.currency !== currency && 'currency',
      (charge.card_brand !== card.brand || charge.card_last4 !== card.last4) && 'card_number',
    ].filter((field) => field !== false);
    if (mismatched.length > 0) throw chargeMismatch(orderId, mismatched);
    if (charge.status !== 'processing') return { kind: 'existing', charge: chargeView(charge) };

    const attempt = charge.attempts + 1;
    const result = await deps.processor.authorize({
      idempotencyKey: charge.id,
      attempt,
      amountCents,
      currency,
      card,
    });
    await recordCall(tx, charge.id, 'authorize', result.outcome);
    const status: ChargeStatus = result.outcome === 'transient_error' ? 'processing' : result.outcome;
    const updated = await tx.query<ChargeRow>(
      `UPDATE payment_charges SET status = $2, decline_code = $3, attempts = $4, updated_at = now()
       WHERE id = $1 RETURNING *`,
      [charge.id, status, result.outcome === 'declined' ? result.declineCode : null, attempt],
    );
    const fields = { order_id: orderId, charge_id: charge.id, attempt };
    if (result.outcome === 'transient_error') {
      log.warn(
        { ...fields, reason: result.reason },
        'card processor failed transiently; the caller is told to retry',
      );
      return { kind: 'retry' };
    }
    log.info({ ...fields, outcome: result.outcome }, 'charge processed');
    return { kind: 'processed', charge: chargeView(updated.rows[0]!) };
  });
}

/**
 * Voids the charge of an order that its caller gave up on: a charge still without a final answer
 * (or none at all yet) becomes `voided`, and every later charge request of the order is answered
 * with the void. A charge with a final answer keeps it, and is returned for the caller to act on.
 * Takes the same row lock as charging, so a void and a charge of one order take turns.
 */
export function voidOrder(
  deps: PaymentsDeps,
  body: { order_id: string; amount_cents: number; currency: string },
  log: Logger,
): Promise<ChargeView> {
  return deps.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO payment_charges (order_id, status, amount_cents, currency) VALUES ($1, 'voided', $2, $3)
       ON CONFLICT (order_id) DO NOTHING`,
      [body.order_id, body.amount_cents, body.currency],
    );
    const { rows } = await tx.query<ChargeRow>(
      `UPDATE payment_charges SET status = CASE WHEN status = 'processing' THEN 'voided' ELSE status END,
              updated_at = now()
        WHERE order_id = $1 RETURNING *`,
      [body.order_id],
    );
    const charge = rows[0]!;
    log.info({ order_id: body.order_id, charge_id: charge.id, status: charge.status }, 'void requested');
    return chargeView(charge);
  });
}

/** The charge of an order with its refund (null until refunded), or undefined when the order has none. */
export async function findCharge(
  db: Service['db'],
  orderId: string,
): Promise<(ChargeView & { refund: RefundView | null }) | undefined> {
  const charges = await db.query<ChargeRow>('SELECT * FROM payment_charges WHERE order_id = $1', [orderId]);
  const charge = charges.rows[0];
  if (!charge) return undefined;
  const refunds = await db.query<RefundRow>('SELECT * FROM payment_refunds WHERE charge_id = $1', [
    charge.id,
  ]);
  const refund = refunds.rows[0];
  return { ...chargeView(charge), refund: refund ? refundView(refund) : null };
}

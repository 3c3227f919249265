import type { CardBrand } from './card.ts';

/**
 * Where a charge is: `processing` until the processor gives a final answer, `refunded` after a
 * refund, `voided` when the order gave up on it before a final answer (no money was taken, and
 * none will be).
 */
export type ChargeStatus = 'processing' | 'approved' | 'declined' | 'refunded' | 'voided';

/** A row of payment_charges. */
export interface ChargeRow {
  id: string;
  order_id: string;
  status: ChargeStatus;
  amount_cents: number;
  currency: string;
  /** Null only on a row that a void wrote before any charge request came. */
  card_brand: CardBrand | null;
  card_last4: string | null;
  decline_code: string | null;
  attempts: number;
  created_at: Date;
}

/** A row of payment_refunds. */
export interface RefundRow {
  id: string;
  charge_id: string;
  amount_cents: number;
  created_at: Date;
}

/** A charge as callers see it. */
export interface ChargeView {
  id: string;
  order_id: string;
  status: ChargeStatus;
  amount_cents: number;
  currency: string;
  /** Null on a void that came before any charge request. */
  card: { brand: CardBrand; last4: string } | null;
  /** Only on a declined charge. */
  decline_code?: string;
  attempts: number;
  created_at: string;
}

/** A refund as callers see it. */
export interface RefundView {
  id: string;
  charge_id: string;
  amount_cents: number;
  created_at: string;
}

/** The caller's view of a charge row. */
export function chargeView(row: ChargeRow): ChargeView {
  return {
    id: row.id,
    order_id: row.order_id,
    status: row.status,
    amount_cents: row.amount_cents,
    currency: row.currency,
    card:
      row.card_brand === null || row.card_last4 === null
        ? null
        : { brand: row.card_brand, last4: row.card_last4 },
    ...(row.decline_code === null ? {} : { decline_code: row.decline_code }),
    attempts: row.attempts,
    created_at: row.created_at.toISOString(),
  };
}

/** The caller's view of a refund row. */
export function refundView(row: RefundRow): RefundView {
  return {
    id: row.id,
    charge_id: row.charge_id,
    amount_cents: row.amount_cents,
    created_at: row.created_at.toISOString(),
  };
}

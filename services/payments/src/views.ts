import type { CardBrand } from './card.ts';

/** Where a charge is: `processing` until the processor gives a final answer, `refunded` after a refund. */
export type ChargeStatus = 'processing' | 'approved' | 'declined' | 'refunded';

/** A row of payment_charges. */
export interface ChargeRow {
  id: string;
  order_id: string;
  status: ChargeStatus;
  amount_cents: number;
  currency: string;
  card_brand: CardBrand;
  card_last4: string;
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
  card: { brand: CardBrand; last4: string };
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
    card: { brand: row.card_brand, last4: row.card_last4 },
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

import { HttpError } from '@flotilla/runtime';
import { PAYMENTS_DEFAULTS } from './defaults.ts';
import type { ChargeStatus } from './views.ts';

/** The payments service's own error codes, beside the runtime's (VALIDATION_FAILED, NOT_FOUND, ...). */
export type PaymentsErrorCode =
  | 'CHARGE_MISMATCH'
  | 'PROCESSOR_UNAVAILABLE'
  | 'CHARGE_NOT_FOUND'
  | 'NOT_REFUNDABLE';

/** 409: the order already has a charge, and this request differs from it in `fields`. */
export function chargeMismatch(orderId: string, fields: readonly string[]): HttpError {
  return new HttpError(
    409,
    'CHARGE_MISMATCH' satisfies PaymentsErrorCode,
    `Order ${orderId} already has a charge with another ${fields.join(', ')}. An order is charged once: repeat the first request to read that charge.`,
    { details: { fields } },
  );
}

/** 503 with Retry-After: the processor could not take the charge this time; the same request may be retried. */
export function processorUnavailable(): HttpError {
  return new HttpError(
    503,
    'PROCESSOR_UNAVAILABLE' satisfies PaymentsErrorCode,
    'The card processor could not process this request this time. Retry the same request after Retry-After seconds.',
    { headers: { 'retry-after': String(PAYMENTS_DEFAULTS.retryAfterS) } },
  );
}

/** 404: no charge exists for the order. */
export function chargeNotFound(orderId: string): HttpError {
  return new HttpError(
    404,
    'CHARGE_NOT_FOUND' satisfies PaymentsErrorCode,
    `Order ${orderId} has no charge.`,
  );
}

/** 409: only an approved charge can be refunded. */
export function notRefundable(orderId: string, status: ChargeStatus): HttpError {
  const why =
    status === 'declined'
      ? 'was declined, so no money was taken'
      : status === 'voided'
        ? 'was voided, so no money was taken'
        : 'is still processing: repeat the charge request until it is approved, then refund';
  return new HttpError(
    409,
    'NOT_REFUNDABLE' satisfies PaymentsErrorCode,
    `The charge of order ${orderId} ${why}.`,
    { details: { status } },
  );
}

/** 400 VALIDATION_FAILED for an order id in the path that is not a UUID. */
export function invalidOrderId(): HttpError {
  return HttpError.of('VALIDATION_FAILED', {
    message: 'The path is invalid; see details.',
    details: [{ path: 'order_id', message: 'Must be a UUID.' }],
  });
}

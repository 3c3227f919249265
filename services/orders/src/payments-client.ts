import { setTimeout as sleep } from 'node:timers/promises';
import type { MeshClient, MeshResponse } from '@flotilla/runtime';
import { ORDERS_DEFAULTS } from './defaults.ts';

/** What payments answered about a charge. */
export interface ChargeOutcome {
  status: 'approved' | 'declined';
  decline_code?: string;
}

/** Payments could not be asked, or kept answering 503: the caller may retry later, nothing is lost. */
export class PaymentsUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PaymentsUnavailableError';
  }
}

/** The orders service's view of payments: one charge per order, one refund per charge. */
export interface PaymentsClient {
  charge(charge: {
    orderId: string;
    amountCents: number;
    currency: string;
    cardNumber: string;
  }): Promise<ChargeOutcome>;
  refund(orderId: string): Promise<void>;
  /**
   * Gives up on charging an order: a charge without a final answer is voided, so it can never take
   * money later; a final answer is returned as it is. A void counts as declined (`abandoned`).
   */
  void(charge: { orderId: string; amountCents: number; currency: string }): Promise<ChargeOutcome>;
}

const { attempts, backoffMs, maxRetryAfterMs, timeoutMs } = ORDERS_DEFAULTS.payments;

/**
 * Calls payments over the mesh. Both calls are idempotent on the payments side (keyed by order
 * id), so a 503, a timeout or a lost connection is retried here a few times with backoff, and the
 * request carries an Idempotency-Key so that the mesh may retry a reset connection too.
 */
export function meshPayments(mesh: () => MeshClient): PaymentsClient {
  const call = async (path: string, body: unknown, orderId: string): Promise<MeshResponse> => {
    let last: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const res = await mesh().request({
          service: 'payments',
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json', 'idempotency-key': orderId },
          body: JSON.stringify(body),
          timeoutMs,
        });
        if (res.statusCode !== 503) return res;
        last = new Error(`payments answered 503: ${res.text().slice(0, 200)}`);
        if (attempt < attempts) await sleep(retryAfterMs(res) ?? backoffMs * attempt);
      } catch (error) {
        last = error;
        if (attempt < attempts) await sleep(backoffMs * attempt);
      }
    }
    throw new PaymentsUnavailableError(`payments did not answer after ${attempts} attempts`, { cause: last });
  };

  return {
    async charge({ orderId, amountCents, currency, cardNumber }) {
      const res = await call(
        '/internal/payments/v1/charges',
        { order_id: orderId, amount_cents: amountCents, currency, card_number: cardNumber },
        orderId,
      );
      if (res.statusCode === 200 || res.statusCode === 201) return outcomeOf(res);
      // A card payments refuses as malformed is a failed payment, not a broken service.
      if (res.statusCode === 400) return { status: 'declined', decline_code: 'invalid_card' };
      throw new PaymentsUnavailableError(`payments answered ${res.statusCode}: ${res.text().slice(0, 200)}`);
    },
    async void({ orderId, amountCents, currency }) {
      const res = await call(
        `/internal/payments/v1/charges/${orderId}/void`,
        { amount_cents: amountCents, currency },
        orderId,
      );
      if (res.statusCode !== 200) {
        throw new PaymentsUnavailableError(
          `payments answered ${res.statusCode} to a void: ${res.text().slice(0, 200)}`,
        );
      }
      return outcomeOf(res);
    },
    async refund(orderId) {
      const res = await call(`/internal/payments/v1/charges/${orderId}/refund`, {}, orderId);
      if (res.statusCode !== 200) {
        throw new PaymentsUnavailableError(
          `payments answered ${res.statusCode} to a refund: ${res.text().slice(0, 200)}`,
        );
      }
    },
  };
}

/** What a charge in payments' answer means for the order. */
function outcomeOf(res: MeshResponse): ChargeOutcome {
  const charge = res.json<{ status: string; decline_code?: string }>();
  switch (charge.status) {
    case 'approved':
      return { status: 'approved' };
    case 'declined':
      return { status: 'declined', decline_code: charge.decline_code };
    case 'voided':
      return { status: 'declined', decline_code: 'abandoned' };
    default:
      throw new PaymentsUnavailableError(`payments answered a charge in state ${charge.status}`);
  }
}

function retryAfterMs(res: MeshResponse): number | undefined {
  const seconds = Number(res.headers['retry-after']);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds * 1000, maxRetryAfterMs) : undefined;
}

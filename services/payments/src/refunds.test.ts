import { randomUUID } from 'node:crypto';
import { Registry } from '@flotilla/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Payments, startPayments } from '../test/harness.ts';
import type { CardProcessor } from './card-processor.ts';
import { createPaymentsMetrics } from './metrics.ts';
import { refundOrder } from './refunds.ts';
import { createSimulatedProcessor } from './simulated-processor.ts';
import { TEST_CARDS } from './simulated-processor.ts';
import type { ChargeView, RefundView } from './views.ts';

const CHARGES = '/internal/payments/v1/charges';
let payments: Payments;

beforeAll(async () => {
  payments = await startPayments();
});

afterAll(async () => {
  await payments?.stop();
});

async function charged(card: string = TEST_CARDS.approved): Promise<{ orderId: string; status: number }> {
  const orderId = randomUUID();
  const res = await payments.call('POST', CHARGES, {
    order_id: orderId,
    amount_cents: 4_200,
    currency: 'EUR',
    card_number: card,
  });
  return { orderId, status: res.status };
}

function refund(orderId: string) {
  return payments.call<{ refund: RefundView; charge: ChargeView }>('POST', `${CHARGES}/${orderId}/refund`);
}

describe('refunds', () => {
  it('refunds an approved charge in full and answers 200 with the refund and the refunded charge', async () => {
    const { orderId } = await charged();

    const res = await refund(orderId);

    expect(res.status).toBe(200);
    expect(res.body.refund).toEqual({
      id: expect.any(String),
      charge_id: res.body.charge.id,
      amount_cents: 4_200,
      created_at: expect.stringMatching(/Z$/),
    });
    expect(res.body.charge).toMatchObject({ order_id: orderId, status: 'refunded', amount_cents: 4_200 });
    const read = await payments.call('GET', `${CHARGES}/${orderId}`);
    expect(read.body).toEqual({ ...res.body.charge, refund: res.body.refund });
  });

  it('makes one refund and one processor refund call for 10 concurrent refund requests', async () => {
    const { orderId } = await charged();
    const refundsBefore = await payments.metric('payments_refunds_total');
    const callsBefore = await payments.metric('payments_processor_calls_total{operation="refund"}');

    const answers = await Promise.all(Array.from({ length: 10 }, () => refund(orderId)));

    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
    const rows = await payments.query(
      `SELECT r.id FROM payment_refunds r JOIN payment_charges c ON c.id = r.charge_id WHERE c.order_id = $1`,
      [orderId],
    );
    expect(rows).toEqual([{ id: answers[0]!.body.refund.id }]);
    const [calls] = await payments.query(
      `SELECT count(*)::int AS n FROM payment_processor_calls p JOIN payment_charges c ON c.id = p.charge_id
       WHERE c.order_id = $1 AND p.operation = 'refund'`,
      [orderId],
    );
    expect(calls).toEqual({ n: 1 });
    expect(await payments.metric('payments_refunds_total')).toBe(refundsBefore + 1);
    expect(await payments.metric('payments_processor_calls_total{operation="refund"}')).toBe(callsBefore + 1);
  });

  it('answers a later refund request with the same refund', async () => {
    const { orderId } = await charged();
    const first = await refund(orderId);

    const again = await refund(orderId);

    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
  });

  it('answers 404 CHARGE_NOT_FOUND for an order that was never charged', async () => {
    const orderId = randomUUID();

    const res = await refund(orderId);

    expect(res.status).toBe(404);
    expect(res.body).toEqual({
      error: { code: 'CHARGE_NOT_FOUND', message: `Order ${orderId} has no charge.` },
    });
  });

  it('answers 409 NOT_REFUNDABLE for a declined charge', async () => {
    const { orderId } = await charged(TEST_CARDS.declined);

    const res = await refund(orderId);

    expect(res.status).toBe(409);
    expect(res.body).toEqual({
      error: {
        code: 'NOT_REFUNDABLE',
        message: `The charge of order ${orderId} was declined, so no money was taken.`,
        details: { status: 'declined' },
      },
    });
  });

  it('answers 409 NOT_REFUNDABLE for a charge still processing, and refunds it once approved', async () => {
    const { orderId, status } = await charged(TEST_CARDS.failsFirstAttempt);
    expect(status).toBe(503);

    const early = await refund(orderId);
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({
      error: { code: 'NOT_REFUNDABLE', details: { status: 'processing' } },
    });

    const retried = await payments.call('POST', CHARGES, {
      order_id: orderId,
      amount_cents: 4_200,
      currency: 'EUR',
      card_number: TEST_CARDS.failsFirstAttempt,
    });
    expect(retried.status).toBe(201);
    expect((await refund(orderId)).status).toBe(200);
  });

  it('answers a repeated charge request of a refunded order with the refunded charge, charging nothing', async () => {
    const { orderId } = await charged();
    await refund(orderId);

    const repeat = await payments.call('POST', CHARGES, {
      order_id: orderId,
      amount_cents: 4_200,
      currency: 'EUR',
      card_number: TEST_CARDS.approved,
    });

    expect(repeat.status).toBe(200);
    expect(repeat.body).toMatchObject({ status: 'refunded' });
  });

  it('answers 400 VALIDATION_FAILED for an order id that is not a UUID', async () => {
    const res = await refund('not-a-uuid');

    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'VALIDATION_FAILED', details: [{ path: 'order_id' }] } });
  });

  it('keeps a charge approved when the processor fails a refund transiently, and refunds it on the retry', async () => {
    const { orderId } = await charged();
    let refundCalls = 0;
    // A second CardProcessor, as a real one can answer: the first refund call fails transiently.
    const flaky: CardProcessor = {
      ...createSimulatedProcessor(),
      async refund() {
        refundCalls++;
        return refundCalls === 1
          ? { outcome: 'transient_error', reason: 'acquirer timed out' }
          : { outcome: 'refunded' };
      },
    };
    const registry = new Registry();
    const metrics = createPaymentsMetrics(registry);
    const { service } = payments;
    const deps = { db: service.db, transaction: service.transaction, processor: flaky, metrics };
    const { log } = payments.service;

    expect(await refundOrder(deps, orderId, log)).toEqual({ kind: 'retry' });
    expect((await payments.call('GET', `${CHARGES}/${orderId}`)).body).toMatchObject({
      status: 'approved',
      refund: null,
    });
    expect(await refundOrder(deps, orderId, log)).toMatchObject({
      kind: 'refunded',
      charge: { status: 'refunded' },
    });
    const calls = await payments.query(
      `SELECT p.outcome FROM payment_processor_calls p JOIN payment_charges c ON c.id = p.charge_id
       WHERE c.order_id = $1 AND p.operation = 'refund' ORDER BY p.id`,
      [orderId],
    );
    expect(calls).toEqual([{ outcome: 'transient_error' }, { outcome: 'refunded' }]);
    expect(registry.expose()).toContain('\npayments_refunds_total 1\n');
  });
});

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Payments, startPayments } from '../test/harness.ts';
import { TEST_CARDS } from './simulated-processor.ts';
import type { ChargeView } from './views.ts';

const CHARGES = '/internal/payments/v1/charges';
let payments: Payments;

beforeAll(async () => {
  payments = await startPayments();
});

afterAll(async () => {
  await payments?.stop();
});

const charge = (orderId: string, card: string = TEST_CARDS.approved) =>
  payments.call<ChargeView>('POST', CHARGES, {
    order_id: orderId,
    amount_cents: 900,
    currency: 'EUR',
    card_number: card,
  });
const voidIt = (orderId: string) =>
  payments.call<ChargeView>('POST', `${CHARGES}/${orderId}/void`, { amount_cents: 900, currency: 'EUR' });
const authorizeCalls = async (orderId: string) =>
  (
    await payments.query(
      `SELECT 1 FROM payment_processor_calls c JOIN payment_charges p ON p.id = c.charge_id
        WHERE p.order_id = $1 AND c.operation = 'authorize'`,
      [orderId],
    )
  ).length;

describe('voids', () => {
  it('voids an order never charged, and refuses every later charge of it without calling the processor', async () => {
    const orderId = randomUUID();
    const voided = await voidIt(orderId);
    expect(voided.status).toBe(200);
    expect(voided.body).toMatchObject({ order_id: orderId, status: 'voided', card: null, amount_cents: 900 });
    const late = await charge(orderId);
    expect(late.status).toBe(200);
    expect(late.body.status).toBe('voided');
    expect(await authorizeCalls(orderId)).toBe(0);
    const refund = await payments.call('POST', `${CHARGES}/${orderId}/refund`);
    expect(refund.status).toBe(409);
  });

  it('voids a charge still processing after a transient failure, so its retry takes no money', async () => {
    const orderId = randomUUID();
    expect((await charge(orderId, TEST_CARDS.failsFirstAttempt)).status).toBe(503);
    expect((await voidIt(orderId)).body.status).toBe('voided');
    const retry = await charge(orderId, TEST_CARDS.failsFirstAttempt);
    expect(retry.body.status).toBe('voided');
    expect(await authorizeCalls(orderId)).toBe(1);
  });

  it('leaves a charge with a final answer as it is, and says what it was', async () => {
    const approved = randomUUID();
    await charge(approved);
    expect((await voidIt(approved)).body.status).toBe('approved');
    const declined = randomUUID();
    await charge(declined, TEST_CARDS.declined);
    expect((await voidIt(declined)).body).toMatchObject({
      status: 'declined',
      decline_code: 'card_declined',
    });
  });

  it('lets a void and a charge of one order take turns: the order ends charged or voided, never both', async () => {
    for (let i = 0; i < 10; i++) {
      const orderId = randomUUID();
      const [charged, voided] = await Promise.all([charge(orderId), voidIt(orderId)]);
      const rows = await payments.query<{ status: string }>(
        'SELECT status FROM payment_charges WHERE order_id = $1',
        [orderId],
      );
      expect(rows).toHaveLength(1);
      expect(['approved', 'voided']).toContain(rows[0]!.status);
      expect(charged.body.status).toBe(rows[0]!.status);
      expect(voided.body.status).toBe(rows[0]!.status);
      expect(await authorizeCalls(orderId)).toBe(rows[0]!.status === 'approved' ? 1 : 0);
    }
  });

  it('refuses a void with a malformed order id or body', async () => {
    expect(
      (await payments.call('POST', `${CHARGES}/not-a-uuid/void`, { amount_cents: 1, currency: 'EUR' }))
        .status,
    ).toBe(400);
    expect((await payments.call('POST', `${CHARGES}/${randomUUID()}/void`, { amount_cents: 0 })).status).toBe(
      400,
    );
  });
});

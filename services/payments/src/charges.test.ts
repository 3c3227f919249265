import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, type Payments, startPayments } from '../test/harness.ts';
import { PAYMENTS_DEFAULTS } from './defaults.ts';
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

function charge(overrides: Record<string, unknown> = {}): Promise<Answer<ChargeView>> {
  return payments.call<ChargeView>('POST', CHARGES, {
    order_id: randomUUID(),
    amount_cents: 2_500,
    currency: 'EUR',
    card_number: TEST_CARDS.approved,
    ...overrides,
  });
}

function countStatuses(answers: Answer<unknown>[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const { status } of answers) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

async function processorCalls(chargeId: string): Promise<number> {
  const [row] = await payments.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM payment_processor_calls WHERE charge_id = $1 AND operation = 'authorize'`,
    [chargeId],
  );
  return row!.n;
}

describe('test cards', () => {
  it('approves 4242 4242 4242 4242 on the first attempt and answers 201 with the charge', async () => {
    const orderId = randomUUID();
    const res = await charge({ order_id: orderId, card_number: '4242 4242 4242 4242' });

    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`${CHARGES}/${orderId}`);
    expect(res.body).toEqual({
      id: expect.any(String),
      order_id: orderId,
      status: 'approved',
      amount_cents: 2_500,
      currency: 'EUR',
      card: { brand: 'visa', last4: '4242' },
      attempts: 1,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
    });
    expect(await processorCalls(res.body.id)).toBe(1);
  });

  it('declines 4000000000000002 with decline code card_declined, as a 201 charge of status declined', async () => {
    const res = await charge({ card_number: TEST_CARDS.declined });

    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'declined', decline_code: 'card_declined', attempts: 1 });
    expect(res.body.card).toEqual({ brand: 'visa', last4: '0002' });
  });

  it('answers 503 PROCESSOR_UNAVAILABLE with Retry-After for 4000000000000119, then approves the retry', async () => {
    const orderId = randomUUID();
    const first = await charge({ order_id: orderId, card_number: TEST_CARDS.failsFirstAttempt });

    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('1');
    expect(first.body).toEqual({
      error: { code: 'PROCESSOR_UNAVAILABLE', message: expect.stringContaining('Retry the same request') },
    });
    const [row] = await payments.query('SELECT status, attempts FROM payment_charges WHERE order_id = $1', [
      orderId,
    ]);
    expect(row).toEqual({ status: 'processing', attempts: 1 });

    const retry = await charge({ order_id: orderId, card_number: TEST_CARDS.failsFirstAttempt });
    expect(retry.status).toBe(201);
    expect(retry.body).toMatchObject({ order_id: orderId, status: 'approved', attempts: 2 });

    const again = await charge({ order_id: orderId, card_number: TEST_CARDS.failsFirstAttempt });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(retry.body);
    const rows = await payments.query('SELECT id FROM payment_charges WHERE order_id = $1', [orderId]);
    expect(rows).toEqual([{ id: retry.body.id }]);
    expect(await processorCalls(retry.body.id)).toBe(2);
  });

  it('counts the transient card attempts in the database, so a retry on another replica is approved', async () => {
    const other = await payments.replica();
    const orderId = randomUUID();
    const body = {
      order_id: orderId,
      amount_cents: 990,
      currency: 'USD',
      card_number: TEST_CARDS.failsFirstAttempt,
    };

    expect((await payments.call('POST', CHARGES, body)).status).toBe(503);
    const retry = await other.call<ChargeView>('POST', CHARGES, body);

    expect(retry.status).toBe(201);
    expect(retry.body).toMatchObject({ status: 'approved', attempts: 2 });
  });

  it.each([
    ['mastercard', '5555 5555 5555 4444', '4444'],
    ['amex', '378282246310005', '0005'],
    ['discover', '6011111111111117', '1117'],
    ['unknown', '9000000000000001', '0001'],
    ['visa', '4111111111119', '1119'],
    ['visa', '4000000000000000006', '0006'],
  ])('approves any other Luhn-valid number (%s %s)', async (brand, number, last4) => {
    const res = await charge({ card_number: number });

    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'approved', card: { brand, last4 } });
  });
});

describe('idempotency per order', () => {
  it('answers a repeat with 200 and the identical charge, without calling the processor again', async () => {
    const orderId = randomUUID();
    const first = await charge({ order_id: orderId });
    const calls = await payments.metric('payments_processor_calls_total{operation="authorize"}');

    const repeat = await charge({ order_id: orderId });
    const spaced = await charge({ order_id: orderId, card_number: ' 4242 4242 4242 4242 ' });

    expect(first.status).toBe(201);
    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual(first.body);
    expect(spaced.status).toBe(200);
    expect(spaced.body).toEqual(first.body);
    expect(await payments.metric('payments_processor_calls_total{operation="authorize"}')).toBe(calls);
  });

  it('returns a declined charge as it is on a repeat: a declined order is not retried on the card', async () => {
    const orderId = randomUUID();
    const first = await charge({ order_id: orderId, card_number: TEST_CARDS.declined });
    const repeat = await charge({ order_id: orderId, card_number: TEST_CARDS.declined });

    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual(first.body);
    expect(await processorCalls(first.body.id)).toBe(1);
  });

  it.each([
    ['amount_cents', { amount_cents: 2_501 }],
    ['currency', { currency: 'USD' }],
    ['card_number', { card_number: '5555555555554444' }],
  ])(
    'refuses a repeat with another %s with 409 CHARGE_MISMATCH and keeps the first charge',
    async (field, change) => {
      const orderId = randomUUID();
      const first = await charge({ order_id: orderId });

      const res = await charge({ order_id: orderId, ...change });

      expect(res.status).toBe(409);
      expect(res.body).toEqual({
        error: {
          code: 'CHARGE_MISMATCH',
          message: `Order ${orderId} already has a charge with another ${field}. An order is charged once: repeat the first request to read that charge.`,
          details: { fields: [field] },
        },
      });
      expect((await payments.call('GET', `${CHARGES}/${orderId}`)).body).toEqual({
        ...first.body,
        refund: null,
      });
    },
  );

  it('names every field that differs in a mismatch', async () => {
    const orderId = randomUUID();
    await charge({ order_id: orderId });

    const res = await charge({ order_id: orderId, amount_cents: 1, currency: 'GBP' });

    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error: { details: { fields: ['amount_cents', 'currency'] } } });
  });

  it('creates one charge and calls the processor once for 50 concurrent identical requests', async () => {
    const orderId = randomUUID();
    const before = await payments.metric('payments_processor_calls_total{operation="authorize"}');

    const answers = await Promise.all(Array.from({ length: 50 }, () => charge({ order_id: orderId })));

    expect(countStatuses(answers)).toEqual({ 200: 49, 201: 1 });
    expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
    const rows = await payments.query('SELECT id FROM payment_charges WHERE order_id = $1', [orderId]);
    expect(rows).toHaveLength(1);
    expect(await processorCalls(answers[0]!.body.id)).toBe(1);
    expect(await payments.metric('payments_processor_calls_total{operation="authorize"}')).toBe(before + 1);
  });

  it('calls the processor once per attempt for 20 concurrent requests with the transient card', async () => {
    const orderId = randomUUID();

    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        charge({ order_id: orderId, card_number: TEST_CARDS.failsFirstAttempt }),
      ),
    );

    // The first turn gets the transient error, the next turn the approval, the rest read it back.
    expect(countStatuses(answers)).toEqual({ 200: 18, 201: 1, 503: 1 });
    const approved = answers.find((a) => a.status === 201)!;
    expect(approved.body).toMatchObject({ status: 'approved', attempts: 2 });
    expect(await processorCalls(approved.body.id)).toBe(2);
  });
});

describe('reading a charge', () => {
  it('answers GET with the charge and refund null before any refund', async () => {
    const created = await charge();

    const res = await payments.call('GET', `${CHARGES}/${created.body.order_id}`);

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...created.body, refund: null });
  });

  it('answers 404 CHARGE_NOT_FOUND for an order without a charge, and 400 for an order id that is not a UUID', async () => {
    const orderId = randomUUID();
    const missing = await payments.call('GET', `${CHARGES}/${orderId}`);
    const malformed = await payments.call('GET', `${CHARGES}/42`);

    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({
      error: { code: 'CHARGE_NOT_FOUND', message: `Order ${orderId} has no charge.` },
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({
      error: { code: 'VALIDATION_FAILED', details: [{ path: 'order_id', message: 'Must be a UUID.' }] },
    });
  });
});

describe('invalid charge requests', () => {
  const max = PAYMENTS_DEFAULTS.maxAmountCents;
  it.each([
    [
      'a Luhn-invalid number',
      { card_number: '4242424242424241' },
      'card_number',
      'Is not a valid card number: its check digit is wrong (Luhn check failed).',
    ],
    [
      'letters in the number',
      { card_number: '4242-4242-4242-4242' },
      'card_number',
      'Must hold only digits and spaces.',
    ],
    [
      'too few digits',
      { card_number: '4242 4242 42' },
      'card_number',
      'Must have 13 to 19 digits (it has 10).',
    ],
    [
      'too many digits',
      { card_number: '4'.repeat(20) },
      'card_number',
      'Must have 13 to 19 digits (it has 20).',
    ],
    [
      'a card number that is not a string',
      { card_number: 4242424242424242 },
      'card_number',
      'Invalid input: expected string, received number',
    ],
    ['an amount of 0', { amount_cents: 0 }, 'amount_cents', 'Must be at least 1 cent.'],
    [
      'an amount over the maximum',
      { amount_cents: max + 1 },
      'amount_cents',
      `Must be at most ${max} cents; a larger charge is refused.`,
    ],
    [
      'a fractional amount',
      { amount_cents: 10.5 },
      'amount_cents',
      'Invalid input: expected int, received number',
    ],
    [
      'a lower-case currency',
      { currency: 'eur' },
      'currency',
      'Must be an ISO 4217 code of three upper-case letters, such as EUR.',
    ],
    ['an order id that is not a UUID', { order_id: 'order-1' }, 'order_id', 'Must be the order id, a UUID.'],
    [
      'a missing order id',
      { order_id: undefined },
      'order_id',
      'Invalid input: expected string, received undefined',
    ],
  ])('refuses %s with 400 VALIDATION_FAILED saying what is wrong', async (_, change, path, message) => {
    const res = await charge(change);

    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: {
        code: 'VALIDATION_FAILED',
        message: 'The request body is invalid; see details.',
        details: [{ path, message }],
      },
    });
  });

  it('stores nothing for a refused request', async () => {
    const orderId = randomUUID();
    await charge({ order_id: orderId, card_number: '4242424242424241' });

    expect(await payments.query('SELECT id FROM payment_charges WHERE order_id = $1', [orderId])).toEqual([]);
  });
});

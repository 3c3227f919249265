import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Payments, startPayments } from '../test/harness.ts';
import { TEST_CARDS } from './simulated-processor.ts';

const CHARGES = '/internal/payments/v1/charges';
// Every path a card number can take: approved, declined, transient, mismatched, refused, refunded.
const NUMBERS = [
  TEST_CARDS.approved,
  TEST_CARDS.declined,
  TEST_CARDS.failsFirstAttempt,
  '5555555555554444',
  '4242424242424241',
  '4242-4242-4242-4242',
];
let payments: Payments;

beforeAll(async () => {
  payments = await startPayments();
});

afterAll(async () => {
  await payments?.stop();
});

it('keeps every card number out of the database and the log, whatever became of the charge', async () => {
  for (const number of NUMBERS) {
    const orderId = randomUUID();
    const body = { order_id: orderId, amount_cents: 100, currency: 'EUR', card_number: number };
    await payments.call('POST', CHARGES, body);
    await payments.call('POST', CHARGES, body);
    await payments.call('POST', CHARGES, { ...body, card_number: TEST_CARDS.approved, amount_cents: 101 });
    await payments.call('POST', `${CHARGES}/${orderId}/refund`);
  }

  const tables = await payments.query<{ name: string }>(
    `SELECT quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema = 'public'`,
  );
  expect(tables.map((t) => t.name)).toEqual(
    expect.arrayContaining(['payment_charges', 'payment_processor_calls']),
  );
  let dump = '';
  for (const { name } of tables) {
    for (const row of await payments.query<{ line: string }>(`SELECT t::text AS line FROM ${name} t`)) {
      dump += `${row.line}\n`;
    }
  }
  const log = payments.logs.join('');
  expect(dump).toContain('4242');
  expect(log).toContain('charge processed');
  for (const number of NUMBERS) {
    const digits = number.replace(/\D/g, '');
    expect(dump).not.toContain(digits);
    expect(log).not.toContain(digits);
    expect(log).not.toContain(number);
  }
});

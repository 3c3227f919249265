import { z } from 'zod';
import { type Card, parseCard } from './card.ts';
import { PAYMENTS_DEFAULTS } from './defaults.ts';

const { maxAmountCents } = PAYMENTS_DEFAULTS;

/** A message for a value of the right type in the wrong form; zod's own for a missing or mistyped one. */
function formMessage(message: string) {
  return { error: (issue: { code: string }) => (issue.code === 'invalid_type' ? undefined : message) };
}

/** The body of POST /internal/payments/v1/charges; the card number comes out as a Card. */
export const chargeBody = z.object({
  order_id: z.uuid(formMessage('Must be the order id, a UUID.')),
  amount_cents: z
    .int()
    .min(1, 'Must be at least 1 cent.')
    .max(maxAmountCents, `Must be at most ${maxAmountCents} cents; a larger charge is refused.`),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, 'Must be an ISO 4217 code of three upper-case letters, such as EUR.'),
  card_number: z.string().transform((input, ctx): Card => {
    const card = parseCard(input);
    if ('problem' in card) {
      // The issue's input is not reported (zod's reportInput is off), so the number goes nowhere.
      ctx.issues.push({ code: 'custom', message: card.problem, input });
      return z.NEVER;
    }
    return card;
  }),
});

/** A validated charge request. */
export type ChargeBody = z.output<typeof chargeBody>;

import type { CardProcessor } from './card-processor.ts';

/**
 * The simulated processor's test cards. Any other Luhn-valid number is approved; numbers that
 * are not well-formed never reach a processor (the route answers 400 VALIDATION_FAILED).
 */
export const TEST_CARDS = {
  /** Always approved. */
  approved: '4242424242424242',
  /** Always declined, with decline code `card_declined`. */
  declined: '4000000000000002',
  /** The first attempt at a charge fails with a transient processing error; the next is approved. */
  failsFirstAttempt: '4000000000000119',
} as const;

/** A card processor that answers by test card, in process, without state of its own. */
export function createSimulatedProcessor(): CardProcessor {
  return {
    async authorize({ attempt, card }) {
      if (card.number === TEST_CARDS.declined) return { outcome: 'declined', declineCode: 'card_declined' };
      if (card.number === TEST_CARDS.failsFirstAttempt && attempt === 1) {
        return { outcome: 'transient_error', reason: 'simulated processing error on the first attempt' };
      }
      return { outcome: 'approved' };
    },
    async refund() {
      return { outcome: 'refunded' };
    },
  };
}

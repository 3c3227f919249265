import type { Card } from './card.ts';

/** One attempt at authorising one charge. */
export interface AuthorizeRequest {
  /** The charge id, the same on every attempt, so that a processor can recognise a retry. */
  idempotencyKey: string;
  /** 1 on the first attempt at this charge; counted in the database, so it holds across replicas. */
  attempt: number;
  amountCents: number;
  currency: string;
  card: Card;
}

/** The processor's answer. A failure to process is an answer too: the caller retries it later. */
export type AuthorizeResult =
  | { outcome: 'approved' }
  | { outcome: 'declined'; declineCode: string }
  | { outcome: 'transient_error'; reason: string };

/** A full refund of an approved charge. */
export interface RefundRequest {
  /** The charge id: a charge is refunded at most once. */
  idempotencyKey: string;
  amountCents: number;
  currency: string;
}

/** The processor's answer to a refund. */
export type RefundResult = { outcome: 'refunded' } | { outcome: 'transient_error'; reason: string };

/**
 * What the payments service needs from a card processor. The simulated one answers by test card;
 * a real acquirer's client implements the same two calls.
 */
export interface CardProcessor {
  /** Asks for the money to be reserved on the card. */
  authorize(request: AuthorizeRequest): Promise<AuthorizeResult>;
  /** Gives the money of an approved charge back. */
  refund(request: RefundRequest): Promise<RefundResult>;
}

import { EventsError } from './errors.ts';

const SUBSCRIPTION = /^[a-z0-9][a-z0-9_-]{0,99}$/;

/**
 * Throws unless `subscription` is lowercase letters, digits, `-` and `_` (a service name is), since
 * it becomes part of queue names and must not contain the dots that separate their parts.
 */
export function assertSubscriptionName(subscription: string): void {
  if (typeof subscription !== 'string' || !SUBSCRIPTION.test(subscription)) {
    throw new EventsError(
      'EVENTS_OPTIONS_INVALID',
      `Subscription ${JSON.stringify(subscription)} is not valid: use up to 100 lowercase letters, digits, - and _, as a service name.`,
    );
  }
}

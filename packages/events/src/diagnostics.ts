import { channel } from 'node:diagnostics_channel';
import type { EventEnvelope } from './envelope.ts';

/** What a consumer did with a delivery. */
export type ConsumeOutcome = 'processed' | 'duplicate' | 'retried' | 'dead_lettered';

/** Message of `published`: the bus accepted an event from the outbox of `relay`. */
export interface PublishedMessage {
  relay: object;
  envelope: EventEnvelope;
}

/** Message of `consumed`: `consumer` settled a delivery of `type` (undefined when it did not parse). */
export interface ConsumedMessage {
  consumer: object;
  subscription: string;
  type: string | undefined;
  outcome: ConsumeOutcome;
}

/** Message of `outbox`: events still waiting in the outbox of `relay` after a pass. */
export interface OutboxMessage {
  relay: object;
  pending: number;
}

/**
 * Where the package reports what it does, for metrics and tracing, without importing either:
 * subscribe with `diagnostics.published.subscribe(fn)`. Each message names the relay or the
 * consumer it comes from, so several services in one process can tell theirs apart.
 */
export const diagnostics = {
  published: channel('flotilla:events:published'),
  consumed: channel('flotilla:events:consumed'),
  outbox: channel('flotilla:events:outbox'),
} as const;

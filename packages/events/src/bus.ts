import type { EventEnvelope } from './envelope.ts';

/**
 * One event handed to a consumer. Delivery is at least once: until it is settled with ack() or
 * retry(), the bus may deliver it again (its consumer died, its lease ran out).
 */
export interface Delivery {
  /** The envelope as the bus holds it: untrusted JSON until parseEnvelope has checked it. */
  readonly body: unknown;
  /** 1 for the first delivery; retry() delivers again with attempt + 1. A redelivery keeps it. */
  readonly attempt: number;
  /** Settles the delivery: the bus forgets it. */
  ack(): Promise<void>;
  /**
   * Settles the delivery now and has it delivered again no sooner than `delayMs`, with attempt + 1,
   * or with the same attempt when `keepAttempt` (a try that failed for a reason that is not the
   * event's, such as the consumer's database being down, should not use up its attempts).
   */
  retry(delayMs: number, options?: { keepAttempt?: boolean }): Promise<void>;
}

/** How send() delivers. */
export interface SendOptions {
  /** The attempt the delivery carries. @default 1 */
  attempt?: number;
  /** Delivered no sooner than this. @default 0 */
  delayMs?: number;
}

/** How consume() delivers. */
export interface ConsumeOptions {
  /** Deliveries handed out and not yet settled, at most. @default 4 */
  prefetch?: number;
}

/** A running consumer of one subscription. */
export interface Consumer {
  /** Takes no new deliveries and resolves once those in flight have been settled. */
  stop(): Promise<void>;
}

/**
 * The event bus: named subscriptions, each receiving the event types declared for it, each
 * event delivered to one consumer of the subscription at a time. Implementations: PostgreSQL
 * (queue tables) and RabbitMQ (a topic exchange and a queue per subscription).
 */
export interface Bus {
  /** Declares that `subscription` receives events of `types`; idempotent and additive. */
  declare(subscription: string, types: readonly string[]): Promise<void>;
  /** Resolves once the bus holds the event durably, fanned out to every subscription declared for its type. */
  publish(envelope: EventEnvelope): Promise<void>;
  /** Delivers to one subscription only, optionally later (retries, dead-letter replays). */
  send(subscription: string, envelope: EventEnvelope, options?: SendOptions): Promise<void>;
  /** Starts handing deliveries of `subscription` to `onDelivery`, at most `prefetch` unsettled at once. */
  consume(
    subscription: string,
    onDelivery: (delivery: Delivery) => Promise<void>,
    options?: ConsumeOptions,
  ): Promise<Consumer>;
  /**
   * Drops the bus's connections at once. Deliveries not yet settled are delivered again, to
   * another consumer (RabbitMQ at once, PostgreSQL when their lease runs out); stop each
   * consumer first for a graceful end.
   */
  close(): Promise<void>;
}

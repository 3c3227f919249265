export { type BackoffPolicy, backoffMs } from './backoff.ts';
export type { Bus, ConsumeOptions, Consumer, Delivery, SendOptions } from './bus.ts';
export { type CreateBusOptions, createBus } from './create-bus.ts';
export { type DeadLetter, listDeadLetters, replayDeadLetters } from './dead-letters.ts';
export { EVENTS_DEFAULTS } from './defaults.ts';
export {
  type ConsumedMessage,
  type ConsumeOutcome,
  diagnostics,
  type OutboxMessage,
  type PublishedMessage,
} from './diagnostics.ts';
export {
  assertEventType,
  createEnvelope,
  EVENT_TYPE_PATTERN,
  type EventEnvelope,
  type NewEvent,
  parseEnvelope,
} from './envelope.ts';
export { EventsError, type EventsErrorCode } from './errors.ts';
export type { EventHandler } from './handler.ts';
export { InboxConsumer, type InboxConsumerOptions } from './inbox/consumer.ts';
export { DEAD_LETTERS_TABLE, INBOX_TABLE } from './inbox/tables.ts';
export type { Log } from './log.ts';
export {
  type EventsOptions,
  type ResolvedEventsOptions,
  type RetryPolicy,
  resolveEventsOptions,
} from './options.ts';
export { OutboxRelay, type OutboxRelayOptions } from './outbox/relay.ts';
export { OUTBOX_CHANNEL, OUTBOX_TABLE } from './outbox/table.ts';
export { writeToOutbox } from './outbox/write.ts';
export { PostgresBus, type PostgresBusOptions } from './postgres/index.ts';
export { RabbitMqBus, type RabbitMqBusOptions } from './rabbitmq/index.ts';
export { createServiceTables } from './service-tables.ts';
export { inTransaction } from './transaction.ts';

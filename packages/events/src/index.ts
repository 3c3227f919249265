export { EVENTS_DEFAULTS } from './defaults.ts';
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
export {
  type EventsOptions,
  type ResolvedEventsOptions,
  type RetryPolicy,
  resolveEventsOptions,
} from './options.ts';
export { DEAD_LETTERS_TABLE, INBOX_TABLE } from './inbox/tables.ts';
export { OUTBOX_CHANNEL, OUTBOX_TABLE } from './outbox/table.ts';
export { writeToOutbox } from './outbox/write.ts';
export { createServiceTables } from './service-tables.ts';

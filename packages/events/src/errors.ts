/** Codes of EventsError, stable for callers to match on. */
export type EventsErrorCode =
  | 'EVENTS_TYPE_INVALID'
  | 'EVENTS_DATA_INVALID'
  | 'EVENTS_ENVELOPE_INVALID'
  | 'EVENTS_OPTIONS_INVALID'
  | 'EVENTS_BUS_URL_INVALID'
  | 'EVENTS_BUS_UNAVAILABLE'
  | 'EVENTS_BUS_CLOSED'
  | 'EVENTS_DELIVERY_SETTLED';

/** A failure of the event bus, the outbox or the inbox; the message says what to do about it. */
export class EventsError extends Error {
  readonly code: EventsErrorCode;

  constructor(code: EventsErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EventsError';
    this.code = code;
  }
}

import { randomUUID } from 'node:crypto';
import { EventsError } from './errors.ts';

/**
 * An event as it travels: a CloudEvents 1.0 envelope in structured mode, with the CloudEvents
 * distributed-tracing extension (`traceparent`, `tracestate`) so a consumer continues the trace.
 */
export interface EventEnvelope<T = unknown> {
  specversion: '1.0';
  /** A UUID, unique per event; the inbox of each consumer deduplicates on it. */
  id: string;
  /** Dot-separated lowercase words, as `order.paid`. */
  type: string;
  /** `/<system>/<service>` of the producer. */
  source: string;
  /** When the event was created, ISO 8601. */
  time: string;
  datacontenttype: 'application/json';
  data: T;
  traceparent?: string;
  tracestate?: string;
}

/** What a producer gives to make an envelope; the rest is filled in. */
export interface NewEvent {
  type: string;
  source: string;
  data: unknown;
  traceparent?: string;
  tracestate?: string;
}

/** Event types: dot-separated lowercase words (`order.paid`), as in flotilla.yaml. */
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$/;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** Throws EVENTS_TYPE_INVALID unless `type` is dot-separated lowercase words. */
export function assertEventType(type: string): void {
  if (typeof type !== 'string' || !EVENT_TYPE_PATTERN.test(type)) {
    throw new EventsError(
      'EVENTS_TYPE_INVALID',
      `Event type ${JSON.stringify(type)} is not valid: use dot-separated lowercase words, as order.paid.`,
    );
  }
}

/**
 * A new envelope for `event`. `data` is serialised here, so the envelope returned holds exactly
 * what consumers will receive (a Date becomes its ISO string). A malformed `traceparent` is
 * dropped with its `tracestate`, as W3C Trace Context says to, rather than failing the
 * producer's transaction over a header a client sent.
 */
export function createEnvelope(event: NewEvent, now: Date = new Date()): EventEnvelope {
  assertEventType(event.type);
  const envelope: EventEnvelope = {
    specversion: '1.0',
    id: randomUUID(),
    type: event.type,
    source: event.source,
    time: now.toISOString(),
    datacontenttype: 'application/json',
    data: serialisable(event.type, event.data),
  };
  if (event.traceparent !== undefined && TRACEPARENT.test(event.traceparent)) {
    envelope.traceparent = event.traceparent;
    if (event.tracestate) envelope.tracestate = event.tracestate;
  }
  return envelope;
}

function serialisable(type: string, data: unknown): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(data);
  } catch (cause) {
    throw new EventsError(
      'EVENTS_DATA_INVALID',
      `The data of a ${type} event cannot be serialised as JSON (${(cause as Error).message}): pass plain objects, arrays, strings, numbers, booleans or null.`,
      { cause },
    );
  }
  if (text === undefined) {
    throw new EventsError(
      'EVENTS_DATA_INVALID',
      `The data of a ${type} event is ${typeof data}, which JSON cannot hold: pass an object, array, string, number, boolean or null.`,
    );
  }
  // PostgreSQL's jsonb, where the outbox and the bus keep events, refuses the NUL character.
  if (text.includes('\\u0000')) {
    throw new EventsError(
      'EVENTS_DATA_INVALID',
      `The data of a ${type} event contains a NUL character (\\u0000), which PostgreSQL cannot store: remove it.`,
    );
  }
  return JSON.parse(text);
}

/**
 * Checks that `body`, as it came off the bus, is an envelope this package wrote, and returns it
 * typed. Throws EVENTS_ENVELOPE_INVALID naming the first thing wrong with it.
 */
export function parseEnvelope(body: unknown): EventEnvelope {
  const problem = envelopeProblem(body);
  if (problem) {
    throw new EventsError('EVENTS_ENVELOPE_INVALID', `Not a Flotilla event envelope: ${problem}.`);
  }
  return body as EventEnvelope;
}

function envelopeProblem(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'expected a JSON object';
  const e = body as Record<string, unknown>;
  if (e.specversion !== '1.0') return `specversion is ${JSON.stringify(e.specversion)}, expected "1.0"`;
  if (typeof e.id !== 'string' || !UUID.test(e.id)) return 'id is not a UUID';
  if (typeof e.type !== 'string' || !EVENT_TYPE_PATTERN.test(e.type)) {
    return `type ${JSON.stringify(e.type)} is not dot-separated lowercase words`;
  }
  if (typeof e.source !== 'string' || e.source === '') return 'source is missing';
  if (typeof e.time !== 'string' || Number.isNaN(Date.parse(e.time))) return 'time is not a timestamp';
  if (e.datacontenttype !== 'application/json') return 'datacontenttype is not application/json';
  if (!('data' in e)) return 'data is missing';
  for (const name of ['traceparent', 'tracestate'] as const) {
    if (e[name] !== undefined && typeof e[name] !== 'string') return `${name} is not a string`;
  }
  return undefined;
}

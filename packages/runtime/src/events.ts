import {
  assertEventType,
  createEnvelope,
  createServiceTables,
  type EventEnvelope,
  type EventHandler,
  type EventsOptions,
  resolveEventsOptions,
  writeToOutbox,
} from '@flotilla/events';
import type { InstanceIdentity } from '@flotilla/spec';
import type pg from 'pg';
import { RuntimeError } from './errors.ts';

/** Trace context to carry with an event, from the request that caused it. */
export interface PublishOptions {
  traceparent?: string;
  tracestate?: string;
}

/** A service's side of the event bus: publish through its outbox, handle events through its inbox. */
export interface ServiceEvents {
  /**
   * Writes an event to the service's outbox with `tx`, so it is published if and only if the
   * transaction commits. Returns the envelope as consumers will receive it.
   */
  publish(tx: pg.PoolClient, type: string, data: unknown, options?: PublishOptions): Promise<EventEnvelope>;
  /**
   * Handles events of `type`, once each: the handler runs in a transaction that also records the
   * event in the inbox. One handler per type, registered before start().
   */
  on<T = unknown>(type: string, handler: EventHandler<T>): void;
}

/** What createService needs to run a service's events. */
export interface EventsRuntimeOptions {
  pool: pg.Pool;
  identity: InstanceIdentity;
  options: EventsOptions;
}

/** The events of one service, with the lifecycle createService drives. */
export interface EventsRuntime {
  readonly api: ServiceEvents;
  /** Creates the outbox, inbox and dead-letter tables. */
  start(): Promise<void>;
}

/** Builds the events of a service; nothing touches the database until start(). */
export function createEventsRuntime(config: EventsRuntimeOptions): EventsRuntime {
  const { pool, identity } = config;
  resolveEventsOptions(config.options);
  const source = `/${identity.system}/${identity.service}`;
  const handlers = new Map<string, EventHandler>();
  let started = false;

  const api: ServiceEvents = {
    async publish(tx, type, data, options = {}) {
      const envelope = createEnvelope({ type, source, data, ...options });
      await writeToOutbox(tx, envelope);
      return envelope;
    },
    on(type, handler) {
      assertEventType(type);
      if (started) {
        throw new RuntimeError(
          'FLOTILLA_SERVICE_STATE',
          `events.on('${type}') was called after start(): register handlers before start().`,
        );
      }
      if (handlers.has(type)) {
        throw new RuntimeError(
          'FLOTILLA_CONFIG_INVALID',
          `A handler for ${type} is already registered: one handler per event type; do both things in it.`,
        );
      }
      handlers.set(type, handler as EventHandler);
    },
  };

  return {
    api,
    async start() {
      started = true;
      await createServiceTables(pool);
    },
  };
}

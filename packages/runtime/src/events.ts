import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  assertEventType,
  type Bus,
  type ConsumedMessage,
  createBus,
  createEnvelope,
  createServiceTables,
  diagnostics,
  type EventEnvelope,
  type EventHandler,
  type EventsOptions,
  InboxConsumer,
  type OutboxMessage,
  OutboxRelay,
  type PublishedMessage,
  resolveEventsOptions,
  writeToOutbox,
} from '@flotilla/events';
import { ENV, type InstanceIdentity } from '@flotilla/spec';
import type pg from 'pg';
import type { Logger } from 'pino';
import { RuntimeError } from './errors.ts';
import type { Registry } from './metrics/index.ts';

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

/** What createService gives a service's events. */
export interface EventsRuntimeOptions {
  pool: pg.Pool;
  identity: InstanceIdentity;
  options: EventsOptions;
  env: NodeJS.ProcessEnv;
  log: Logger;
  metrics: Registry;
}

/** The events of one service, with the lifecycle createService drives. */
export interface EventsRuntime {
  readonly api: ServiceEvents;
  /** Creates the outbox, inbox and dead-letter tables, declares the subscription and starts the relay. */
  start(): Promise<void>;
  /** Starts handling events; createService calls it once the service is ready. */
  consume(): Promise<void>;
  /** Takes no new events and resolves once the handlers in flight have committed or rolled back. */
  stopConsuming(): Promise<void>;
  /** Stops the relay (after its pass in progress) and closes the bus. */
  close(): Promise<void>;
}

/**
 * Builds the events of a service: reads the bus URL now, so a missing one stops start-up before
 * anything listens; connects nothing until start().
 */
export function createEventsRuntime(config: EventsRuntimeOptions): EventsRuntime {
  const { pool, identity, log } = config;
  const options = resolveEventsOptions(config.options);
  const bus = openBus(config);
  const source = `/${identity.system}/${identity.service}`;
  const subscription = identity.service;
  const handlers = new Map<string, EventHandler>();
  const relay = new OutboxRelay({ db: pool, bus, log });
  let consumer: InboxConsumer | undefined;
  let started = false;

  const published = config.metrics.counter({
    name: 'flotilla_events_published_total',
    help: 'Events this instance moved from the outbox to the bus, by type.',
    labelNames: ['type'],
  });
  const consumed = config.metrics.counter({
    name: 'flotilla_events_consumed_total',
    help: 'Deliveries this instance settled, by type and outcome (processed, duplicate, retried, dead_lettered).',
    labelNames: ['type', 'outcome'],
  });
  const pending = config.metrics.gauge({
    name: 'flotilla_outbox_pending',
    help: "Events waiting in the service's outbox, as this instance's relay last counted.",
  });
  // The channels are process-wide; each message names its relay or consumer, so only ours count.
  const onPublished = (message: unknown) => {
    const m = message as PublishedMessage;
    if (m.relay === relay) published.inc({ type: m.envelope.type });
  };
  const onConsumed = (message: unknown) => {
    const m = message as ConsumedMessage;
    if (consumer && m.consumer === consumer) consumed.inc({ type: m.type ?? 'unknown', outcome: m.outcome });
  };
  const onOutbox = (message: unknown) => {
    const m = message as OutboxMessage;
    if (m.relay === relay) pending.set(m.pending);
  };
  const channels = [
    [diagnostics.published.name, onPublished],
    [diagnostics.consumed.name, onConsumed],
    [diagnostics.outbox.name, onOutbox],
  ] as const;

  const api: ServiceEvents = {
    async publish(tx, type, data, publishOptions = {}) {
      const envelope = createEnvelope({ type, source, data, ...publishOptions });
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
      for (const [name, fn] of channels) subscribe(name, fn);
      await createServiceTables(pool);
      if (handlers.size > 0) await bus.declare(subscription, [...handlers.keys()]);
      relay.start();
    },
    async consume() {
      if (handlers.size === 0) return;
      consumer = new InboxConsumer({ db: pool, bus, subscription, handlers, log, ...options });
      await consumer.start();
      log.info({ subscription, types: [...handlers.keys()] }, 'consuming events');
    },
    async stopConsuming() {
      await consumer?.stop();
    },
    async close() {
      await relay.stop();
      await bus.close();
      for (const [name, fn] of channels) unsubscribe(name, fn);
    },
  };
}

function openBus(config: EventsRuntimeOptions): Bus {
  const { identity, env, log } = config;
  const url = env[ENV.busUrl];
  if (!url) {
    throw new RuntimeError(
      'FLOTILLA_CONFIG_MISSING',
      `Service ${identity.service} uses events but ${ENV.busUrl} is not set: set events: for the service in flotilla.yaml (flotilla up then sets it), or set ${ENV.busUrl} to a postgres:// or amqp:// URL.`,
    );
  }
  try {
    return createBus({ url, system: identity.system, log });
  } catch (cause) {
    throw new RuntimeError('FLOTILLA_CONFIG_INVALID', `${ENV.busUrl}: ${(cause as Error).message}`, {
      cause,
    });
  }
}

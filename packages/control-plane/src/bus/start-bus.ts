import { type Bus, createBus } from '@flotilla/events';
import type { SystemSpec } from '@flotilla/spec';
import type { Logger } from 'pino';
import type { DeadLetterSource } from '../api/index.ts';
import type { BusStatus } from '../types.ts';
import { busAddress, redactBusUrl } from './bus-address.ts';
import { BusError } from './errors.ts';
import { ServiceDeadLetters } from './service-dead-letters.ts';

/** Time limits of the bus; the control plane fills them from its defaults. */
export interface BusTimeouts {
  /** Longest wait for the bus to take every subscription. */
  startTimeoutMs: number;
  /** Longest wait for a connection to a service's database, for its dead letters. */
  connectTimeoutMs: number;
}

/** What startBus needs besides the spec. */
export interface StartBusOptions {
  /** The PostgreSQL bus's database, from startPostgres; unused with RabbitMQ. */
  busUrl: string | undefined;
  /** DATABASE_URL of each service with a database, from startPostgres. */
  databaseUrls: Readonly<Record<string, string>>;
  log: Logger;
  progress: (message: string) => void;
  timeouts: BusTimeouts;
}

/** The system's event bus as the control plane runs it. */
export interface BusHandle {
  /** FLOTILLA_BUS_URL of the services with `events`; it holds a password, so it is never shown. */
  url: string | undefined;
  status: BusStatus;
  deadLetters: DeadLetterSource;
  /** Closes the dead-letter connections and the control plane's bus client; the bus itself keeps the events. */
  stop(): Promise<void>;
}

const NO_DEAD_LETTERS: DeadLetterSource = { services: [], list: async () => [], replay: async () => [] };

/**
 * Connects to the bus of `infrastructure.bus` (the PostgreSQL bus's own database, or RabbitMQ) and
 * declares every subscription of the spec: each service's `events.subscribes`, under the service's
 * name, as its runtime consumes it. This runs before any instance starts, so an event published
 * while its consumer is still starting waits in the consumer's queue instead of reaching no one.
 * A bus that cannot take the subscriptions within `startTimeoutMs` fails start-up. Nothing
 * connects when no service has `events`.
 */
export async function startBus(spec: SystemSpec, options: StartBusOptions): Promise<BusHandle> {
  const users = Object.entries(spec.services).filter(([, service]) => service.events);
  if (users.length === 0) {
    return {
      url: undefined,
      status: { kind: 'none', address: null },
      deadLetters: NO_DEAD_LETTERS,
      stop: async () => {},
    };
  }
  const { kind } = spec.infrastructure.bus;
  const url = kind === 'postgres' ? options.busUrl : spec.infrastructure.bus.url;
  if (url === undefined) {
    throw new BusError(
      'FLOTILLA_BUS_NOT_PROVISIONED',
      'the PostgreSQL bus has no database: startPostgres provisions one when a service has events; report this as a bug',
    );
  }
  const subscriptions = users.flatMap(([name, service]) =>
    service.events!.subscribes.length > 0 ? [{ name, types: service.events!.subscribes }] : [],
  );
  const bus = createBus({ url, system: spec.name, log: options.log });
  try {
    await declareWithin(bus, subscriptions, options.timeouts.startTimeoutMs);
  } catch (cause) {
    await bus.close().catch(() => {});
    throw unreachable(kind, url, cause as Error);
  }
  const address = busAddress(url);
  const declared = subscriptions.map((s) => s.name);
  options.progress(
    `bus: ${kind} on ${address}, ${declared.length === 0 ? 'no subscriptions to declare' : `subscriptions declared: ${declared.join(', ')}`}`,
  );
  const deadLetters = new ServiceDeadLetters({
    databaseUrls: Object.fromEntries(
      declared.flatMap((name) => {
        const databaseUrl = options.databaseUrls[name];
        return databaseUrl === undefined ? [] : [[name, databaseUrl]];
      }),
    ),
    bus,
    connectTimeoutMs: options.timeouts.connectTimeoutMs,
    log: options.log,
  });
  return {
    url,
    status: { kind, address },
    deadLetters,
    async stop() {
      await deadLetters.close();
      await bus.close();
    },
  };
}

/** Declares the subscriptions one by one, failing once `timeoutMs` has passed without the bus answering. */
async function declareWithin(
  bus: Bus,
  subscriptions: readonly { name: string; types: readonly string[] }[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Promise.withResolvers<never>();
  const timer = setTimeout(() => deadline.reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    await Promise.race([
      (async () => {
        for (const { name, types } of subscriptions) await bus.declare(name, types);
      })(),
      deadline.promise,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function unreachable(kind: 'postgres' | 'rabbitmq', url: string, error: Error): BusError {
  // The events package's own message advises a running service; the root cause is what matters here.
  const root = error.cause instanceof Error ? error.cause : error;
  const password = safePassword(url);
  const reason = password ? root.message.replaceAll(password, '***') : root.message;
  const where = redactBusUrl(url);
  const advice =
    kind === 'rabbitmq'
      ? 'start RabbitMQ there, fix infrastructure.bus.url in the spec, or set infrastructure.bus.kind: postgres to keep the bus in PostgreSQL'
      : "check that the system's PostgreSQL is up and its log for why the bus database refused";
  return new BusError(
    'FLOTILLA_BUS_UNREACHABLE',
    `cannot declare the event subscriptions on ${kind === 'rabbitmq' ? 'RabbitMQ' : 'the PostgreSQL bus'} at ${where} (${reason}): ${advice}`,
    { cause: error },
  );
}

function safePassword(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

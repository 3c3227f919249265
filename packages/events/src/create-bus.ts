import type { Bus } from './bus.ts';
import { EventsError } from './errors.ts';
import type { Log } from './log.ts';
import { PostgresBus } from './postgres/index.ts';
import { RabbitMqBus } from './rabbitmq/index.ts';

/** Where the bus is and whose it is. */
export interface CreateBusOptions {
  /** `postgres://` / `postgresql://` for the PostgreSQL bus, `amqp://` / `amqps://` for RabbitMQ. */
  url: string;
  /** The system's name (FLOTILLA_SYSTEM); RabbitMQ names its exchange and queues after it. */
  system: string;
  log?: Log;
}

/** The bus for `url`, picked by its scheme. Nothing connects until first use. */
export function createBus(options: CreateBusOptions): Bus {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(options.url)?.[1]?.toLowerCase();
  // Checked here, without the URL in the message: the TypeError of `new URL()` carries the whole
  // URL, password included, in its `input`, and would print it wherever it is logged as a cause.
  if (scheme && !URL.canParse(options.url)) {
    throw new EventsError(
      'EVENTS_BUS_URL_INVALID',
      `The ${scheme}:// bus URL does not parse (a port that is not a number, a character to percent-encode in the password?): correct infrastructure.bus in flotilla.yaml, or FLOTILLA_BUS_URL.`,
    );
  }
  switch (scheme) {
    case 'postgres':
    case 'postgresql':
      return new PostgresBus({ url: options.url, log: options.log });
    case 'amqp':
    case 'amqps':
      return new RabbitMqBus({ url: options.url, system: options.system, log: options.log });
    default:
      throw new EventsError(
        'EVENTS_BUS_URL_INVALID',
        `The bus URL must start with postgres://, postgresql://, amqp:// or amqps:// (got ${scheme ? `${scheme}://...` : 'no scheme'}): set infrastructure.bus in flotilla.yaml, or FLOTILLA_BUS_URL.`,
      );
  }
}

import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Consumer, Delivery } from '../bus.ts';
import { EventsError } from '../errors.ts';
import type { Log } from '../log.ts';
import { checkSend } from '../send-options.ts';
import { ATTEMPT_HEADER } from './topology.ts';

/** What one consumer of a subscription's queue works with. */
export interface RabbitConsumerOptions {
  subscription: string;
  queue: string;
  onDelivery(delivery: Delivery): Promise<void>;
  prefetch: number;
  log: Log;
  /** Puts `message` back for another attempt, waiting `delayMs`; resolves once the broker holds it. */
  requeue(message: ConsumeMessage, attempt: number, delayMs: number): Promise<void>;
  /** Called once the consumer has stopped, so the bus forgets it. */
  onStopped(consumer: RabbitConsumer): void;
}

/**
 * One consumer of a subscription's queue, with manual acks and basic.qos as its prefetch. The bus
 * attaches it to every new connection. A channel that fails while its connection lives (or a
 * consumer the broker cancels, as when its queue is deleted) takes the connection down with it,
 * so that one recovery path, reconnecting and declaring everything again, handles every failure.
 */
export class RabbitConsumer implements Consumer {
  readonly #o: RabbitConsumerOptions;
  readonly #running = new Set<Promise<void>>();
  #channel: Channel | undefined;
  #tag: string | undefined;
  #stopped = false;
  #stopping: Promise<void> | undefined;

  constructor(options: RabbitConsumerOptions) {
    this.#o = options;
  }

  /** Starts consuming on a channel of `model`; deliveries of an earlier connection settle on theirs, or fail to. */
  async attach(model: ChannelModel): Promise<void> {
    if (this.#stopped) return;
    const { queue, prefetch, log, subscription } = this.#o;
    const ch = await model.createChannel();
    ch.on('error', (err: Error) => log.warn({ err, subscription }, 'RabbitMQ consumer channel failed'));
    ch.on('close', () => {
      if (this.#stopped || this.#channel !== ch) return;
      this.#channel = undefined;
      reset(model);
    });
    await ch.prefetch(prefetch);
    await ch.assertQueue(queue, { durable: true });
    const { consumerTag } = await ch.consume(queue, (message) => this.#deliver(model, ch, message), {
      noAck: false,
    });
    if (this.#stopped) {
      // Stopped while attaching (a consume() that failed as the connection was replaced).
      await ch.close().catch(() => undefined);
      return;
    }
    this.#channel = ch;
    this.#tag = consumerTag;
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#stopped = true;
      const ch = this.#channel;
      if (ch && this.#tag) await ch.cancel(this.#tag).catch(() => undefined);
      await Promise.allSettled([...this.#running]);
      this.#channel = undefined;
      await ch?.close().catch(() => undefined);
      this.#o.onStopped(this);
    })();
    return this.#stopping;
  }

  /** Stops at once; the broker delivers the unsettled deliveries again once the connection closes. */
  kill(): void {
    this.#stopped = true;
  }

  #deliver(model: ChannelModel, ch: Channel, message: ConsumeMessage | null): void {
    const { log, subscription } = this.#o;
    if (message === null) {
      log.warn({ subscription }, 'RabbitMQ cancelled the consumer (was its queue deleted?): reconnecting');
      reset(model);
      return;
    }
    const attempt = attemptOf(message);
    let settled = false;
    const settle = async (work: () => unknown): Promise<void> => {
      if (settled) {
        throw new EventsError(
          'EVENTS_DELIVERY_SETTLED',
          'This delivery was already acked or retried: settle it once.',
        );
      }
      settled = true;
      try {
        await work();
      } catch (cause) {
        throw new EventsError(
          'EVENTS_BUS_UNAVAILABLE',
          `Settling a delivery of ${subscription} failed (${(cause as Error).message}): RabbitMQ will deliver it again.`,
          { cause },
        );
      }
    };
    const delivery: Delivery = {
      body: parseBody(message.content),
      attempt,
      ack: () => settle(() => ch.ack(message)),
      retry: (delayMs, options) => {
        const checked = checkSend({ delayMs });
        return settle(async () => {
          // Held by the broker before the original goes: a crash in between duplicates, never loses.
          await this.#o.requeue(message, options?.keepAttempt ? attempt : attempt + 1, checked.delayMs);
          ch.ack(message);
        });
      },
    };
    const run = (async () => {
      try {
        await this.#o.onDelivery(delivery);
      } catch (err) {
        log.warn({ err, subscription }, 'a delivery handler threw');
      }
      if (!settled) {
        settled = true;
        log.warn({ subscription }, 'a delivery was left unsettled: delivering it again');
        try {
          ch.nack(message, false, true);
        } catch {
          // The channel is gone, and with it the delivery: the broker delivers it again.
        }
      }
    })();
    this.#running.add(run);
    void run.finally(() => this.#running.delete(run));
  }
}

/** Closes `model` so the recovering connection reconnects and declares everything again. */
export function reset(model: ChannelModel): void {
  model.close().catch(() => undefined);
}

function attemptOf(message: ConsumeMessage): number {
  const attempt = Number(message.properties.headers?.[ATTEMPT_HEADER]);
  return Number.isSafeInteger(attempt) && attempt >= 1 ? attempt : 1;
}

/** The message as JSON, or as the text it is when it is not JSON, for the consumer to reject. */
function parseBody(content: Buffer): unknown {
  const text = content.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

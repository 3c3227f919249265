import amqp, {
  type ChannelModel,
  type ConfirmChannel,
  type Options,
  type RecoveringChannelModel,
} from 'amqplib';
import type { Bus, ConsumeOptions, Consumer, Delivery, SendOptions } from '../bus.ts';
import { EVENTS_DEFAULTS } from '../defaults.ts';
import { assertEventType, type EventEnvelope } from '../envelope.ts';
import { EventsError } from '../errors.ts';
import { type Log, silentLog } from '../log.ts';
import { assertSubscriptionName } from '../names.ts';
import { checkSend, resolvePrefetch } from '../send-options.ts';
import { RabbitConsumer, reset } from './consumer.ts';
import { ATTEMPT_HEADER, delayLevelMs, delayQueueName, exchangeName, queueName } from './topology.ts';

/** How a RabbitMQ bus is reached. */
export interface RabbitMqBusOptions {
  /** `amqp://` or `amqps://` URL of the broker. */
  url: string;
  /** The system's name: exchange and queues are named after it, so systems on one broker stay apart. */
  system: string;
  log?: Log;
}

/** One live connection and what was set up on it; replaced on every reconnect. */
interface Link {
  model: ChannelModel;
  /** The confirm channel that publishes and declares. */
  publisher: ConfirmChannel;
  /** Queues declared on this connection, so send() declares each once. */
  declared: Set<string>;
}

/**
 * The event bus on RabbitMQ: a durable topic exchange, a durable queue per subscription bound
 * by event type, persistent messages published with confirms, manual acks, and delay queues for
 * retries. The connection recovers by itself (amqplib's recovery, jittered backoff), and every
 * reconnection declares the topology again and resumes the consumers. While disconnected,
 * publish and send fail at once rather than wait, so the outbox keeps the events meanwhile.
 */
export class RabbitMqBus implements Bus {
  readonly #url: string;
  readonly #system: string;
  readonly #exchange: string;
  readonly #log: Log;
  /** Types declared for each subscription, declared again on every connection. */
  readonly #subscriptions = new Map<string, Set<string>>();
  readonly #consumers = new Set<RabbitConsumer>();
  #connection: Promise<RecoveringChannelModel> | undefined;
  #link: Link | undefined;
  #connected = false;
  #closing: Promise<void> | undefined;

  constructor(options: RabbitMqBusOptions) {
    this.#url = withHeartbeat(options.url);
    this.#system = options.system;
    this.#exchange = exchangeName(options.system);
    this.#log = options.log ?? silentLog;
  }

  async declare(subscription: string, types: readonly string[]): Promise<void> {
    assertSubscriptionName(subscription);
    for (const type of types) assertEventType(type);
    const known = this.#subscriptions.get(subscription) ?? new Set();
    for (const type of types) known.add(type);
    this.#subscriptions.set(subscription, known);
    const link = await this.#ready();
    await this.#guard('declaring a subscription', () => this.#declareSubscription(link, subscription, types));
  }

  async publish(envelope: EventEnvelope): Promise<void> {
    const link = await this.#ready();
    await this.#confirm(link, this.#exchange, envelope.type, Buffer.from(JSON.stringify(envelope)), {
      ...properties(envelope.id, envelope.type),
      headers: { [ATTEMPT_HEADER]: 1 },
    });
  }

  async send(subscription: string, envelope: EventEnvelope, options: SendOptions = {}): Promise<void> {
    assertSubscriptionName(subscription);
    const { attempt, delayMs } = checkSend(options);
    await this.#sendTo(
      subscription,
      Buffer.from(JSON.stringify(envelope)),
      properties(envelope.id, envelope.type),
      attempt,
      delayMs,
    );
  }

  async consume(
    subscription: string,
    onDelivery: (delivery: Delivery) => Promise<void>,
    options: ConsumeOptions = {},
  ): Promise<Consumer> {
    assertSubscriptionName(subscription);
    const prefetch = resolvePrefetch(options.prefetch);
    const link = await this.#ready();
    const consumer = new RabbitConsumer({
      subscription,
      queue: queueName(this.#system, subscription),
      onDelivery,
      prefetch,
      log: this.#log,
      requeue: (message, attempt, delayMs) =>
        this.#sendTo(
          subscription,
          message.content,
          properties(message.properties.messageId, message.properties.type, message.properties.contentType),
          attempt,
          delayMs,
        ),
      onStopped: (c) => this.#consumers.delete(c),
    });
    this.#consumers.add(consumer);
    try {
      await consumer.attach(link.model);
    } catch (cause) {
      // A reconnection may have attached it meanwhile: stop it there too.
      await consumer.stop();
      throw unavailable(`starting to consume ${subscription}`, cause as Error);
    }
    return consumer;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const consumer of this.#consumers) consumer.kill();
      this.#consumers.clear();
      this.#link = undefined;
      const connection = await this.#connection?.catch(() => undefined);
      await connection?.close();
    })();
    return this.#closing;
  }

  /** The live connection: waits for the first one, fails at once while a later one is being re-established. */
  async #ready(): Promise<Link> {
    if (this.#closing) throw new EventsError('EVENTS_BUS_CLOSED', 'The bus was closed: create a new one.');
    this.#connection ??= this.#open();
    const connection = await this.#connection;
    if (!this.#connected) {
      try {
        await connection.waitForConnect();
      } catch (cause) {
        // Recovery gave up on the first connection: the next call starts over.
        this.#connection = undefined;
        throw unavailable('connecting', cause as Error);
      }
    }
    if (!this.#link) throw unavailable('reaching the broker', new Error('disconnected, reconnecting'));
    return this.#link;
  }

  async #open(): Promise<RecoveringChannelModel> {
    const { reconnect, initialConnectRetries } = EVENTS_DEFAULTS.rabbitmq;
    const connection = await amqp.connect(this.#url, {
      recovery: {
        waitForConnect: false,
        initialDelay: reconnect.initialDelayMs,
        maxDelay: reconnect.maxDelayMs,
        jitter: reconnect.jitter,
        factor: 2,
        maxRetries: Number.POSITIVE_INFINITY,
        initialMaxRetries: initialConnectRetries,
        setup: (model: ChannelModel) => this.#setUp(model),
      },
    });
    const log = this.#log;
    connection.on('connect', () => {
      if (this.#connected) log.info({ system: this.#system }, 'RabbitMQ connection restored');
      this.#connected = true;
    });
    connection.on('disconnect', (err: Error) => {
      this.#link = undefined;
      log.warn({ err, system: this.#system }, 'RabbitMQ connection lost: reconnecting');
    });
    connection.on('connect-failed', (err: Error) => log.warn({ err }, 'connecting to RabbitMQ failed'));
    connection.on('reconnect-failed', (err: Error) => log.warn({ err }, 'gave up connecting to RabbitMQ'));
    connection.on('error', (err: Error) => log.warn({ err }, 'RabbitMQ connection error'));
    return connection;
  }

  /** Run by the recovering connection on every (re)connection, before it counts as connected. */
  async #setUp(model: ChannelModel): Promise<void> {
    model.on('error', (err: Error) => this.#log.debug({ err }, 'RabbitMQ connection error during set-up'));
    const publisher = await model.createConfirmChannel();
    publisher.on('error', (err: Error) => this.#log.warn({ err }, 'RabbitMQ publishing channel failed'));
    const link: Link = { model, publisher, declared: new Set() };
    publisher.on('close', () => {
      if (this.#link === link && !this.#closing) reset(model);
    });
    await publisher.assertExchange(this.#exchange, 'topic', { durable: true });
    for (const [subscription, types] of this.#subscriptions) {
      await this.#declareSubscription(link, subscription, [...types]);
    }
    for (const consumer of this.#consumers) await consumer.attach(model);
    model.once('close', () => {
      if (this.#link === link) this.#link = undefined;
    });
    this.#link = link;
  }

  async #declareSubscription(link: Link, subscription: string, types: readonly string[]): Promise<void> {
    const queue = queueName(this.#system, subscription);
    await link.publisher.assertQueue(queue, { durable: true });
    for (const type of types) await link.publisher.bindQueue(queue, this.#exchange, type);
    link.declared.add(queue);
  }

  /** Puts a message straight into one subscription's queue, or into the delay queue of its delay. */
  async #sendTo(
    subscription: string,
    content: Buffer,
    props: Options.Publish,
    attempt: number,
    delayMs: number,
  ): Promise<void> {
    const link = await this.#ready();
    const queue = queueName(this.#system, subscription);
    const levelMs = delayLevelMs(delayMs);
    const target = levelMs === 0 ? queue : delayQueueName(this.#system, subscription, levelMs);
    await this.#guard('declaring a queue', async () => {
      if (!link.declared.has(queue)) {
        await link.publisher.assertQueue(queue, { durable: true });
        link.declared.add(queue);
      }
      if (!link.declared.has(target)) {
        await link.publisher.assertQueue(target, {
          durable: true,
          messageTtl: levelMs,
          deadLetterExchange: '',
          deadLetterRoutingKey: queue,
        });
        link.declared.add(target);
      }
    });
    await this.#confirm(link, '', target, content, { ...props, headers: { [ATTEMPT_HEADER]: attempt } });
  }

  /** Publishes and resolves once the broker confirms, failing after confirmTimeoutMs. */
  #confirm(link: Link, exchange: string, routingKey: string, content: Buffer, props: Options.Publish) {
    const { confirmTimeoutMs } = EVENTS_DEFAULTS.rabbitmq;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(unavailable('publishing', new Error(`no confirm within ${confirmTimeoutMs} ms`))),
        confirmTimeoutMs,
      );
      const done = (err: unknown) => {
        clearTimeout(timer);
        if (err) reject(unavailable('publishing', err instanceof Error ? err : new Error(String(err))));
        else resolve();
      };
      try {
        link.publisher.publish(exchange, routingKey, content, props, done);
      } catch (err) {
        done(err);
      }
    });
  }

  async #guard(doing: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (cause) {
      throw unavailable(doing, cause as Error);
    }
  }
}

function properties(
  id: unknown,
  type: unknown,
  contentType = 'application/cloudevents+json',
): Options.Publish {
  return {
    persistent: true,
    contentType,
    messageId: typeof id === 'string' ? id : undefined,
    type: typeof type === 'string' ? type : undefined,
  };
}

/** The URL with a short heartbeat unless it sets one, so a silently dead connection is noticed. */
function withHeartbeat(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) {
    parsed.searchParams.set('heartbeat', String(EVENTS_DEFAULTS.rabbitmq.heartbeatS));
  }
  return parsed.toString();
}

function unavailable(doing: string, cause: Error): EventsError {
  return new EventsError(
    'EVENTS_BUS_UNAVAILABLE',
    `RabbitMQ failed ${doing} (${cause.message}): check that the broker is reachable; the outbox keeps events until it is, and the bus reconnects by itself.`,
    { cause },
  );
}

import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { eventually } from '../../../../test/support/eventually.ts';
import { RABBITMQ, rabbitmqReachable } from '../../../../test/support/rabbitmq.ts';
import { busContract } from '../bus.contract.ts';
import { createEnvelope } from '../envelope.ts';
import { RabbitMqBus } from './index.ts';
import { DELAY_LEVELS_MS, delayLevelMs, delayQueueName, exchangeName, queueName } from './topology.ts';

const rabbitUp = await rabbitmqReachable();
// A system of this run's own, so its exchange and queues never meet another run's.
const system = `test-${randomBytes(4).toString('hex')}`;

/** Deletes every queue the subscriptions may have made, and the exchange. */
async function removeTopology(subscriptions: readonly string[]): Promise<void> {
  const connection = await amqp.connect(RABBITMQ.url);
  try {
    const ch = await connection.createChannel();
    for (const sub of subscriptions) {
      await ch.deleteQueue(queueName(system, sub));
      for (const level of DELAY_LEVELS_MS) await ch.deleteQueue(delayQueueName(system, sub, level));
    }
    await ch.deleteExchange(exchangeName(system));
  } finally {
    await connection.close();
  }
}

/** The broker's URL, reached at `via` (a proxy) when given. */
function urlOf(via?: { host: string; port: number }): string {
  return via ? `amqp://guest:guest@${via.host}:${via.port}` : RABBITMQ.url;
}

describe('rabbitmq delay levels', () => {
  it('puts a delay in the smallest level not below it, so no retry comes early', () => {
    expect(delayLevelMs(0)).toBe(0);
    expect(delayLevelMs(1)).toBe(100);
    expect(delayLevelMs(100)).toBe(100);
    expect(delayLevelMs(101)).toBe(125);
    expect(delayLevelMs(30_000)).toBe(33_087);
    expect(delayLevelMs(3_600_000)).toBeGreaterThanOrEqual(3_600_000);
  });

  it('keeps every level within 25 % of the one below it', () => {
    for (let i = 1; i < DELAY_LEVELS_MS.length; i++) {
      expect(DELAY_LEVELS_MS[i]! / DELAY_LEVELS_MS[i - 1]!).toBeLessThanOrEqual(1.26);
    }
  });
});

// Skipped only where RabbitMQ at 127.0.0.1:5672 is unreachable (a laptop without it): these tests
// need a real broker; rabbitmqReachable() prints that they were skipped and why.
describe.skipIf(!rabbitUp)('rabbitmq bus', () => {
  busContract({
    server: { host: RABBITMQ.host, port: RABBITMQ.port },
    create: (via) => new RabbitMqBus({ url: urlOf(via), system }),
    cleanup: (subscriptions) => removeTopology([...subscriptions, 'raw']),
  });

  it('sends a message that is not JSON to the consumer as its text, for it to reject', async () => {
    const bus = new RabbitMqBus({ url: RABBITMQ.url, system });
    const connection = await amqp.connect(RABBITMQ.url);
    try {
      await bus.declare('raw', ['raw.sent']);
      const bodies: unknown[] = [];
      await bus.consume('raw', async (d) => {
        bodies.push(d.body);
        await d.ack();
      });
      const ch = await connection.createChannel();
      ch.sendToQueue(queueName(system, 'raw'), Buffer.from('not json {'));
      await eventually(() => expect(bodies).toEqual(['not json {']));
    } finally {
      await connection.close();
      await bus.close();
    }
  });

  it('gives up on a broker that never answers after a few seconds, saying what to check', async () => {
    const bus = new RabbitMqBus({ url: 'amqp://guest:guest@127.0.0.1:1', system });
    try {
      const error = await bus
        .publish(createEnvelope({ type: 'never.sent', source: '/test', data: {} }))
        .catch((e) => e);
      expect(error).toMatchObject({ code: 'EVENTS_BUS_UNAVAILABLE' });
      expect(error.message).toMatch(/check that the broker is reachable/);
    } finally {
      await bus.close();
    }
  });
});

import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createBus } from './create-bus.ts';
import { PostgresBus } from './postgres/index.ts';
import { RabbitMqBus } from './rabbitmq/index.ts';

describe('createBus', () => {
  it.each([
    ['postgres://u@127.0.0.1/bus', PostgresBus],
    ['postgresql://u@127.0.0.1/bus', PostgresBus],
    ['amqp://guest:guest@127.0.0.1:5672', RabbitMqBus],
    ['AMQPS://broker.example:5671', RabbitMqBus],
  ])('picks the bus of %s by its scheme', async (url, kind) => {
    const bus = createBus({ url, system: 'shop' });
    expect(bus).toBeInstanceOf(kind);
    await bus.close();
  });

  it.each(['nats://127.0.0.1:4222', 'localhost:5672', ''])(
    'refuses %j, naming the schemes it takes',
    (url) => {
      expect(() => createBus({ url, system: 'shop' })).toThrow(
        expect.objectContaining({
          code: 'EVENTS_BUS_URL_INVALID',
          message: expect.stringContaining('amqp://'),
        }),
      );
    },
  );

  it.each(['amqp://app:hunter2-secret@rabbit:not-a-port/', 'postgres://app:hunter2-secret@db:99999999/bus'])(
    'refuses %j, which does not parse, with an error that carries no password',
    (url) => {
      let thrown: unknown;
      try {
        createBus({ url, system: 'shop' });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toMatchObject({
        code: 'EVENTS_BUS_URL_INVALID',
        message: expect.stringContaining('does not parse'),
      });
      expect(inspect(thrown, { depth: 10, showHidden: true })).not.toContain('hunter2-secret');
    },
  );
});

import { Socket } from 'node:net';

/** Where the tests expect RabbitMQ: the machine's own broker, guest/guest. */
export const RABBITMQ = { host: '127.0.0.1', port: 5672, url: 'amqp://guest:guest@127.0.0.1:5672' } as const;

/**
 * Whether RabbitMQ accepts connections at 127.0.0.1:5672; says so on the console when it does not,
 * since the tests that need it then skip.
 */
export async function rabbitmqReachable(): Promise<boolean> {
  const up = await new Promise<boolean>((resolve) => {
    const socket = new Socket().setTimeout(500);
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.once('connect', () => done(true)).once('error', () => done(false));
    socket.once('timeout', () => done(false));
    socket.connect(RABBITMQ.port, RABBITMQ.host);
  });
  if (!up)
    console.warn(
      `RabbitMQ at ${RABBITMQ.host}:${RABBITMQ.port} is unreachable: skipping the tests that need it`,
    );
  return up;
}

import { createServer } from 'node:net';

/**
 * A port that is free on `host` right now. Used where one port must be chosen once and handed to
 * several processes (gateway replicas sharing it with SO_REUSEPORT, PostgreSQL's command line).
 */
export function pickFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

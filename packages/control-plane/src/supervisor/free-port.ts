import { createServer } from 'node:net';
import { SUPERVISOR_DEFAULTS } from './defaults.ts';

/** A port free on loopback right now: bound with port 0, read, and released for the instance to take. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, SUPERVISOR_DEFAULTS.host, () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port);
        else reject(new Error('loopback listener has no port'));
      });
    });
  });
}

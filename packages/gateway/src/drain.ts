import type { Server } from 'node:http';

/**
 * Stops a listener politely: no new connections from now on (with SO_REUSEPORT the kernel sends
 * them to the other replicas), idle keep-alive connections closed at once, busy ones closed after
 * their response, which the caller marks `Connection: close`. Resolves true once every connection
 * is gone; at `deadlineMs` it cuts the remaining ones and resolves false.
 */
export function drain(server: Server, deadlineMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
      resolve(false);
    }, deadlineMs);
    server.close(() => {
      clearTimeout(timer);
      resolve(true);
    });
    server.closeIdleConnections();
  });
}

import { createServer, type Server } from 'node:net';
import type { InstanceStatus } from './types.ts';

/** Another program listens on the gateway's public port (or it needs privileges), so the gateway cannot serve there. */
export class GatewayPortError extends Error {
  readonly code = 'FLOTILLA_GATEWAY_PORT_IN_USE';
  readonly host: string;
  readonly port: number;

  constructor(host: string, port: number, options: ErrorOptions & { cause: NodeJS.ErrnoException }) {
    const why = options.cause.code === 'EACCES' ? 'needs privileges' : 'is in use by another program';
    super(
      `port ${port} on ${host} ${why}, so the gateway cannot listen there; set gateway.listen.port in the spec to another port (0 picks a free one)`,
      options,
    );
    this.name = 'GatewayPortError';
    this.host = host;
    this.port = port;
  }
}

/** The gateway's public port, held by the control plane until the gateway replicas take it. */
export interface GatewayPortClaim {
  /** The port claimed: the one asked for, or the free one picked for 0. */
  port: number;
  /** Stops holding the port; safe to call more than once. */
  release(): Promise<void>;
}

/**
 * Claims the gateway's public port (0 picks a free one) and holds it while PostgreSQL and the rest
 * start, so that `flotilla up` fails at once, naming the port, when another program has it.
 *
 * The claim listens without SO_REUSEPORT, which fails whenever any socket listens there, with the
 * option or without: the replicas share the port with SO_REUSEPORT, so without this check a
 * program holding it with the option (a gateway of another system, say) would silently get a share
 * of this system's connections, and one holding it without would make every replica exit at
 * start-up while `up` still printed `ready`. For a loopback host, [::1] is claimed too: `localhost`
 * in a URL reaches it first, so a program there would answer curls meant for the gateway.
 */
export async function claimGatewayPort(host: string, port: number): Promise<GatewayPortClaim> {
  const main = await claimOne(host, port);
  const servers = [main];
  const claimed = (main.address() as { port: number }).port;
  try {
    // A port picked for 0 is only ever printed and used as 127.0.0.1:PORT, never as localhost.
    if (port !== 0 && (host === '127.0.0.1' || host === 'localhost')) {
      const loopback6 = await claimOne('::1', claimed).catch((error: NodeJS.ErrnoException) => {
        // A machine without IPv6 has no [::1] to take.
        if (error.code === 'EADDRNOTAVAIL' || error.code === 'EAFNOSUPPORT') return undefined;
        throw error;
      });
      if (loopback6) servers.push(loopback6);
    }
  } catch (error) {
    await closeAll(servers);
    throw error;
  }
  let released: Promise<void> | undefined;
  return {
    port: claimed,
    release: () => {
      released ??= closeAll(servers);
      return released;
    },
  };
}

/**
 * After start-up, when no gateway replica became ready: whether another program took the port in
 * the moment between the claim's release and the replicas' listen (each replica then exits and
 * restarts in vain), which is as fatal as a port taken from the start. Replicas that failed for
 * another reason leave the port free, and start-up goes on to report them.
 */
export async function checkGatewayPortAfterStart(
  host: string,
  port: number,
  instances: readonly InstanceStatus[],
  gatewayWorkload: string,
): Promise<void> {
  if (instances.some((i) => i.service === gatewayWorkload && i.state === 'ready')) return;
  const claim = await claimGatewayPort(host, port);
  await claim.release();
}

async function claimOne(host: string, port: number): Promise<Server> {
  try {
    return await listenExclusively(host, port);
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      throw new GatewayPortError(host, port, { cause: error as NodeJS.ErrnoException });
    }
    throw error;
  }
}

function listenExclusively(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    // A client that connects meanwhile is closed at once: it retries and reaches a replica, while
    // a connection left open would hang it and hold up release(), since close() waits for it.
    const server = createServer((socket) => socket.destroy());
    server.unref();
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => resolve(server));
  });
}

function closeAll(servers: readonly Server[]): Promise<void> {
  return Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done())))).then(() => {});
}

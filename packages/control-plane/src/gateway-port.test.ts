import { connect, createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { checkGatewayPortAfterStart, claimGatewayPort, GatewayPortError } from './gateway-port.ts';
import type { InstanceStatus } from './types.ts';

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((done) => s.close(done))));
});

/** A listener of another program's on host:port (0: a free one); resolves to its port. */
async function hold(host: string, port = 0, reusePort = false): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, reusePort }, resolve);
  });
  return (server.address() as { port: number }).port;
}

function gatewayReplica(state: InstanceStatus['state']): InstanceStatus {
  return {
    id: 'gateway-v1-1',
    service: 'gateway',
    version: 'v1',
    pid: 1,
    port: 1,
    state,
    restarts: 0,
    startedAt: null,
    readySince: null,
    lastExit: null,
    nextRestartAt: null,
  };
}

describe('claimGatewayPort', () => {
  it('picks a free port for 0 and holds it until released', async () => {
    const claim = await claimGatewayPort('127.0.0.1', 0);
    expect(claim.port).toBeGreaterThan(0);
    await expect(hold('127.0.0.1', claim.port)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await claim.release();
    await claim.release();
    expect(await hold('127.0.0.1', claim.port)).toBe(claim.port);
  });

  it('lets go of the port at once on release even while a client is connected to it, and closes that client', async () => {
    const claim = await claimGatewayPort('127.0.0.1', 0);
    // A client retrying against the gateway's port while `up` is still starting.
    const client = connect({ host: '127.0.0.1', port: claim.port });
    client.on('error', () => undefined);
    const clientClosed = new Promise<void>((done) => client.once('close', () => done()));
    await new Promise<void>((done) => client.once('connect', () => done()));
    client.write('GET / HTTP/1.1\r\nhost: localhost\r\n\r\n');
    const closedByClaim = Promise.race([clientClosed.then(() => 'closed'), sleep(5_000).then(() => 'open')]);
    const released = await Promise.race([
      claim.release().then(() => 'released'),
      sleep(5_000).then(() => 'still waiting'),
    ]);
    const closed = await closedByClaim;
    client.destroy();
    expect(released).toBe('released');
    // Closed, so that it retries (and reaches a replica) instead of waiting for an answer that never comes.
    expect(closed).toBe('closed');
  });

  it.each([
    ['without SO_REUSEPORT', false],
    ['with SO_REUSEPORT, which the replicas would otherwise share with it', true],
  ])('refuses a port another listener holds %s, naming the port', async (_, reusePort) => {
    const port = await hold('127.0.0.1', 0, reusePort);
    const claimed = claimGatewayPort('127.0.0.1', port);
    await expect(claimed).rejects.toBeInstanceOf(GatewayPortError);
    await expect(claimed).rejects.toMatchObject({
      code: 'FLOTILLA_GATEWAY_PORT_IN_USE',
      host: '127.0.0.1',
      port,
    });
  });

  it('refuses a loopback port whose [::1] side another listener holds, where localhost URLs go first', async (context) => {
    const port = await hold('::1').catch(() => undefined);
    if (port === undefined) context.skip('this machine has no IPv6 loopback');
    await expect(claimGatewayPort('127.0.0.1', port!)).rejects.toMatchObject({ host: '::1', port });
  });
});

describe('checkGatewayPortAfterStart', () => {
  it('accepts a port held by a ready gateway replica: that is the gateway itself', async () => {
    const port = await hold('127.0.0.1', 0, true);
    await expect(
      checkGatewayPortAfterStart('127.0.0.1', port, [gatewayReplica('ready')], 'gateway'),
    ).resolves.toBeUndefined();
  });

  it('fails when no replica is ready because another program took the port after the claim', async () => {
    const port = await hold('127.0.0.1');
    await expect(
      checkGatewayPortAfterStart('127.0.0.1', port, [gatewayReplica('crashloop')], 'gateway'),
    ).rejects.toBeInstanceOf(GatewayPortError);
  });

  it('leaves replicas that failed for another reason to be reported, when the port is free', async () => {
    const free = await claimGatewayPort('127.0.0.1', 0);
    await free.release();
    await expect(
      checkGatewayPortAfterStart('127.0.0.1', free.port, [gatewayReplica('crashloop')], 'gateway'),
    ).resolves.toBeUndefined();
  });
});

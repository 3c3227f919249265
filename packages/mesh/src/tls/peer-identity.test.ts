import { Agent } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { createSecureContext } from 'node:tls';
import type { WorkloadIdentity } from '@flotilla/spec';
import { afterEach, describe, expect, it } from 'vitest';
import { PeerIdentityError } from '../errors.ts';
import { checkServerIdentity, workloadIdentityOfSan } from './peer-identity.ts';
import {
  createTestCa,
  getOverTls,
  startWorkloadServer,
  type TestCa,
  testCertificate,
} from './test-support.ts';
import { secureContextOf, WorkloadTls } from './tls-context.ts';

const ORDERS: WorkloadIdentity = { system: 'shop', service: 'orders', version: 'v1' };
const WEB: WorkloadIdentity = { system: 'shop', service: 'web', version: 'v3' };
const URI = {
  orders: 'URI:spiffe://flotilla.local/ns/shop/sa/orders/v/v1',
  ordersV2: 'URI:spiffe://flotilla.local/ns/shop/sa/orders/v/v2',
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A workload server for ORDERS that lets in clients without a valid certificate (permissive mode). */
async function permissiveServer(ca: TestCa) {
  const pair = await testCertificate(ca, ORDERS);
  const server = await startWorkloadServer(
    new WorkloadTls({ current: () => pair, trustBundle: () => [ca.root] }),
    {
      rejectUnauthorized: false,
    },
  );
  cleanups.push(() => server.close());
  return server;
}

describe('workloadIdentityOfSan', () => {
  it.each([
    ['a workload URI', URI.orders, ORDERS],
    ['a workload URI among other names', `DNS:localhost, ${URI.orders}, IP Address:127.0.0.1`, ORDERS],
    ['the same workload twice', `${URI.orders}, ${URI.orders}`, ORDERS],
    ['two different workloads', `${URI.orders}, ${URI.ordersV2}`, undefined],
    ['a URI of another trust domain', 'URI:spiffe://cluster.local/ns/shop/sa/orders', undefined],
    ['a quoted entry, as Node prints one with a comma', `URI:"${URI.orders.slice(4)},x"`, undefined],
    ['no names at all', undefined, undefined],
  ])('reads %s', (_case, san, expected) => {
    expect(workloadIdentityOfSan(san)).toEqual(expected);
  });
});

describe('peerIdentity', () => {
  const check = checkServerIdentity('orders', 'shop');

  it('names the workload of a client certificate the bundle verifies, once per connection', async () => {
    const ca = await createTestCa('flotilla-root-1');
    const server = await permissiveServer(ca);
    const agent = new Agent({ keepAlive: true, maxSockets: 1, checkServerIdentity: check });
    cleanups.push(async () => agent.destroy());
    const secureContext = secureContextOf(await testCertificate(ca, WEB), [ca.root]);

    const first = await getOverTls(server.port, { secureContext, agent });
    const second = await getOverTls(server.port, { secureContext, agent });

    expect(first.report.peer).toEqual(WEB);
    expect(second.report.peer).toEqual(WEB);
    expect(server.seen[1]!.socket).toBe(server.seen[0]!.socket);
    expect(server.seen[1]!.identity).toBe(server.seen[0]!.identity);
  });

  it('names nobody on a connection without a client certificate', async () => {
    const ca = await createTestCa('flotilla-root-1');
    const server = await permissiveServer(ca);

    const { report } = await getOverTls(server.port, {
      secureContext: createSecureContext({ ca: [ca.root] }),
    });

    expect(report).toEqual({ encrypted: true, peer: null });
  });

  it('names nobody when a foreign CA issued the client certificate, whatever its URI SAN says', async () => {
    const ca = await createTestCa('flotilla-root-1');
    const foreign = await createTestCa('flotilla-root-1');
    const server = await permissiveServer(ca);
    const impostor = secureContextOf(await testCertificate(foreign, WEB), [ca.root]);

    const { report } = await getOverTls(server.port, { secureContext: impostor });

    expect(report).toEqual({ encrypted: true, peer: null });
    expect(server.seen[0]!.peerCert).toBeDefined();
  });
});

describe('checkServerIdentity', () => {
  const check = checkServerIdentity('orders', 'shop');
  const cert = (subjectaltname: string | undefined) => ({ subjectaltname }) as PeerCertificate;

  it('accepts any version of the expected service of the system, whatever the hostname', () => {
    expect(check('127.0.0.1', cert(URI.orders))).toBeUndefined();
    expect(check('example.com', cert(URI.ordersV2))).toBeUndefined();
  });

  it.each([
    ['another service', 'URI:spiffe://flotilla.local/ns/shop/sa/payments/v/v1'],
    ['the same service of another system', 'URI:spiffe://flotilla.local/ns/bank/sa/orders/v/v1'],
    ['no workload URI', 'DNS:orders'],
    ['no subjectAltName', undefined],
  ])('refuses a certificate naming %s', (_case, san) => {
    const error = check('127.0.0.1', cert(san));
    expect(error).toBeInstanceOf(PeerIdentityError);
    expect(error).toMatchObject({ code: 'MESH_TLS_PEER_IDENTITY', subjectAltName: san });
  });

  it('stops a connection to an instance whose certificate names another service', async () => {
    const ca = await createTestCa('flotilla-root-1');
    const payments = await testCertificate(ca, { system: 'shop', service: 'payments', version: 'v1' });
    const server = await startWorkloadServer(
      new WorkloadTls({ current: () => payments, trustBundle: () => [ca.root] }),
    );
    cleanups.push(() => server.close());
    const secureContext = secureContextOf(await testCertificate(ca, WEB), [ca.root]);

    const call = getOverTls(server.port, { secureContext, checkServerIdentity: check });

    await expect(call).rejects.toMatchObject({ code: 'MESH_TLS_PEER_IDENTITY' });
    expect(server.seen).toEqual([]);
  });
});

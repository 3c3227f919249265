import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { connect, createSecureContext, TLSSocket } from 'node:tls';
import type { WorkloadIdentity } from '@flotilla/spec';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../test-support.ts';
import type { MeshLogger } from '../types.ts';
import { CertificateSource } from './certificate-source.ts';
import { checkServerIdentity } from './peer-identity.ts';
import {
  createTestCa,
  getOverTls,
  type PeerReport,
  startCertificateEndpoint,
  startWorkloadServer,
  testCertificate,
} from './test-support.ts';
import { secureContextOf, type TlsMaterial, WorkloadTls } from './tls-context.ts';

// The certificate endpoints here are stand-ins with the control plane's contract (test-support.ts).

const ORDERS: WorkloadIdentity = { system: 'shop', service: 'orders', version: 'v1' };
const WEB: WorkloadIdentity = { system: 'shop', service: 'web', version: 'v3' };
const quiet: MeshLogger = { info: () => {}, warn: () => {} };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function fixed(pair: { key: string; cert: string }, trustBundle: readonly string[]): TlsMaterial {
  return { current: () => pair, trustBundle: () => trustBundle };
}

function getPlain(port: number): Promise<PeerReport> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as PeerReport));
    })
      .on('error', reject)
      .end();
  });
}

describe('secureContextOf', () => {
  it('builds one context per key pair and bundle content, and a new one when either changes', async () => {
    const ca = await createTestCa('flotilla-root-1');
    const other = await createTestCa('flotilla-root-2');
    const pair = await testCertificate(ca, ORDERS);

    const context = secureContextOf(pair, [ca.root]);

    expect(secureContextOf(pair, [ca.root])).toBe(context);
    expect(secureContextOf(pair, [ca.root, other.root])).not.toBe(context);
    expect(secureContextOf({ ...pair }, [ca.root])).not.toBe(context);
  });

  it('trusts only the bundle: with an empty one it verifies nobody, not even a publicly trusted root', async () => {
    const ca = await createTestCa('flotilla-root-1');
    const server = await startWorkloadServer(
      new WorkloadTls(fixed(await testCertificate(ca, ORDERS), [ca.root])),
      {
        rejectUnauthorized: false,
      },
    );
    cleanups.push(() => server.close());

    const emptyBundle = secureContextOf(await testCertificate(ca, WEB), []);

    await expect(getOverTls(server.port, { secureContext: emptyBundle })).rejects.toMatchObject({
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
  });
});

describe('WorkloadTls', () => {
  it('hands out the same context until the certificate or the bundle changes', async () => {
    const ca = await createTestCa('flotilla-root-1');
    let pair = await testCertificate(ca, ORDERS);
    let bundle: readonly string[] = [ca.root];
    const workloadTls = new WorkloadTls({ current: () => pair, trustBundle: () => bundle });

    const first = workloadTls.context();
    expect(workloadTls.context()).toBe(first);
    pair = await testCertificate(ca, ORDERS);
    const second = workloadTls.context();
    expect(second).not.toBe(first);
    bundle = [ca.root, (await createTestCa('flotilla-root-2')).root];
    expect(workloadTls.context()).not.toBe(second);
  });

  it('serves plaintext and mutual TLS on one port, node:http behind both, and knows the TLS peer', async () => {
    const ca = await createTestCa('flotilla-root-1');
    const server = await startWorkloadServer(
      new WorkloadTls(fixed(await testCertificate(ca, ORDERS), [ca.root])),
    );
    cleanups.push(() => server.close());
    const client = new WorkloadTls(fixed(await testCertificate(ca, WEB), [ca.root]));

    expect(await getPlain(server.port)).toEqual({ encrypted: false, peer: null });
    const { report, serverCert } = await getOverTls(server.port, {
      secureContext: client.context(),
      checkServerIdentity: checkServerIdentity('orders', 'shop'),
    });
    expect(report).toEqual({ encrypted: true, peer: WEB });
    expect(serverCert.subjectAltName).toBe('URI:spiffe://flotilla.local/ns/shop/sa/orders/v/v1');
    expect(server.handshakeErrors).toEqual([]);
  });

  it('refuses, in strict mode, a client without a certificate and one whose certificate a foreign CA issued', async () => {
    const ca = await createTestCa('flotilla-root-1');
    const foreign = await createTestCa('someone-else');
    const server = await startWorkloadServer(
      new WorkloadTls(fixed(await testCertificate(ca, ORDERS), [ca.root])),
    );
    cleanups.push(() => server.close());

    const anonymous = createSecureContext({ ca: [ca.root] });
    const impostor = secureContextOf(await testCertificate(foreign, WEB), [ca.root]);

    await expect(getOverTls(server.port, { secureContext: anonymous })).rejects.toThrow();
    await expect(getOverTls(server.port, { secureContext: impostor })).rejects.toThrow();
    expect(server.seen).toEqual([]);
  });

  it('keeps every handshake succeeding, both ways, across two renewals of both certificates', async () => {
    const ca = await createTestCa('flotilla-root-1');
    const sources: CertificateSource[] = [];
    for (const identity of [ORDERS, WEB]) {
      const token = `token-of-${identity.service}`;
      const control = await startCertificateEndpoint({ ca, identity, token, lifetimeMs: 1_000 });
      cleanups.push(() => control.close());
      const source = await CertificateSource.start({
        controlUrl: control.url,
        instanceToken: token,
        log: quiet,
      });
      cleanups.push(() => source.close());
      sources.push(source);
    }
    const [serverSource, clientSource] = sources as [CertificateSource, CertificateSource];
    let renewals = 0;
    for (const source of sources) source.onRenew(() => renewals++);
    const server = await startWorkloadServer(new WorkloadTls(serverSource));
    cleanups.push(() => server.close());
    const client = new WorkloadTls(clientSource);

    const serverCerts = new Set<string>();
    const clientCerts = new Set<string>();
    let handshakes = 0;
    const deadline = Date.now() + 10_000;
    while ((serverCerts.size < 3 || clientCerts.size < 3) && Date.now() < deadline) {
      const { report, serverCert } = await getOverTls(server.port, {
        secureContext: client.context(),
        checkServerIdentity: checkServerIdentity('orders', 'shop'),
      });
      expect(report.peer).toEqual(WEB);
      serverCerts.add(serverCert.fingerprint256);
      clientCerts.add(server.seen.at(-1)!.peerCert!);
      handshakes++;
    }

    expect(serverCerts.size).toBeGreaterThanOrEqual(3);
    expect(clientCerts.size).toBeGreaterThanOrEqual(3);
    expect(renewals).toBeGreaterThanOrEqual(4);
    expect(server.handshakeErrors).toEqual([]);
    expect(handshakes).toBeGreaterThan(10);
  });

  it('keeps TLS 1.3 as the least version after the server context is replaced', async () => {
    const ca = await createTestCa('flotilla-root-1');
    let pair = await testCertificate(ca, ORDERS);
    const server = await startWorkloadServer(
      new WorkloadTls({ current: () => pair, trustBundle: () => [ca.root] }),
    );
    cleanups.push(() => server.close());
    const clientPair = await testCertificate(ca, WEB);
    pair = await testCertificate(ca, ORDERS);

    const tls12 = createSecureContext({ ...clientPair, ca: [ca.root], maxVersion: 'TLSv1.2' });

    await expect(getOverTls(server.port, { secureContext: tls12 })).rejects.toThrow(/version/i);
  });
});

describe('a server-side TLSSocket made by hand', () => {
  it('never authorizes its peer, which is why WorkloadTls.createServer is a tls.Server', async () => {
    const ca = await createTestCa('flotilla-root-1');
    const serverContext = secureContextOf(await testCertificate(ca, ORDERS), [ca.root]);
    const accepted: TLSSocket[] = [];
    const server = createNetServer((socket) => {
      const tlsSocket = new TLSSocket(socket, {
        isServer: true,
        secureContext: serverContext,
        requestCert: true,
        rejectUnauthorized: true,
      });
      tlsSocket.on('secure', () => accepted.push(tlsSocket));
      tlsSocket.on('error', () => {});
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(async () => {
      for (const socket of accepted) socket.destroy();
      server.close();
    });
    const clientContext = secureContextOf(await testCertificate(ca, WEB), [ca.root]);

    const client = connect({
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      secureContext: clientContext,
      checkServerIdentity: () => undefined,
    });
    client.on('error', () => {});
    await eventually(() => accepted.length === 1);
    client.destroy();

    expect(accepted[0]!.getPeerX509Certificate()?.subjectAltName).toContain('/sa/web/');
    expect(accepted[0]!.authorized).toBe(false);
  });
});

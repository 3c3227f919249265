import 'reflect-metadata';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type Agent, type RequestOptions, request } from 'node:https';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import type { PeerCertificate, SecureContext, TLSSocket } from 'node:tls';
import { CONTROL_PATHS, type WorkloadIdentity, workloadUri } from '@flotilla/spec';
import * as x509 from '@peculiar/x509';
import { peerIdentity } from './peer-identity.ts';
import type { WorkloadTls } from './tls-context.ts';

/**
 * Test fixtures for mutual TLS: a tiny CA, a stand-in for the control plane's certificate
 * endpoint, and a workload server. The real endpoint lives in the control plane and is tested
 * there; this one only implements the same contract, so that the workload side is tested against
 * a real HTTP server. The CA is @peculiar/x509 (node:crypto cannot sign certificates), which needs
 * a Reflect polyfill loaded first.
 */

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
/** Leaves are back-dated so that a second-granular notBefore is never in the future. */
const BACKDATE_MS = 60_000;

/** A root that issues workload leaves. */
export interface TestCa {
  /** The root certificate, PEM. */
  readonly root: string;
  /** A leaf for `publicKey` (SPKI PEM) naming `identity` (or a raw URI), valid for at least `lifetimeMs` from now. */
  issue(publicKey: string, identity: WorkloadIdentity | string, lifetimeMs: number): Promise<string>;
}

/** Creates a self-signed P-256 root named `name`. */
export async function createTestCa(name: string): Promise<TestCa> {
  const keys = await crypto.subtle.generateKey(ALGORITHM, false, ['sign', 'verify']);
  const rootCert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - BACKDATE_MS),
    notAfter: new Date(Date.now() + 24 * 3_600_000),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    root: rootCert.toString('pem'),
    async issue(publicKey, identity, lifetimeMs) {
      const uri = typeof identity === 'string' ? identity : workloadUri(identity);
      const leaf = await x509.X509CertificateGenerator.create({
        subject: 'CN=workload',
        issuer: rootCert.subject,
        publicKey: new x509.PublicKey(publicKey),
        signingKey: keys.privateKey,
        notBefore: new Date(Date.now() - BACKDATE_MS),
        // X.509 times have whole seconds: round up, so that a leaf lives at least lifetimeMs.
        notAfter: new Date(Math.ceil((Date.now() + lifetimeMs) / 1_000) * 1_000),
        signingAlgorithm: ALGORITHM,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([
            x509.ExtendedKeyUsage.serverAuth,
            x509.ExtendedKeyUsage.clientAuth,
          ]),
          new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }]),
          await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
        ],
      });
      return leaf.toString('pem');
    },
  };
}

/** A fresh P-256 key pair as PEM (PKCS#8 private key, SPKI public key). */
export function testKeyPair(): { key: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

/** A key and leaf for `identity` issued by `ca`, ready for a TLS context. */
export async function testCertificate(
  ca: TestCa,
  identity: WorkloadIdentity,
  lifetimeMs = 3_600_000,
): Promise<{ key: string; cert: string }> {
  const { key, publicKey } = testKeyPair();
  return { key, cert: await ca.issue(publicKey, identity, lifetimeMs) };
}

/** The stand-in control plane. Change its fields to change what the next request gets. */
export interface TestCertificateEndpoint {
  readonly url: string;
  /** The roots it answers with, newest last; leaves are issued by `issuer`. */
  trustBundle: string[];
  issuer: TestCa;
  lifetimeMs: number;
  /** The next this-many requests are answered with 503. */
  failNext: number;
  /** Every request answered: its status, and when it came and was answered (ms since the epoch). */
  readonly requests: {
    authorization: string | undefined;
    status: number;
    receivedAt: number;
    answeredAt: number;
  }[];
  close(): Promise<void>;
}

/** Starts an HTTP server on 127.0.0.1 port 0 that answers `POST /v1/certificate` for one identity. */
export async function startCertificateEndpoint(options: {
  ca: TestCa;
  identity: WorkloadIdentity;
  token: string;
  lifetimeMs: number;
}): Promise<TestCertificateEndpoint> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== 'POST' || req.url !== CONTROL_PATHS.certificate) return reply(res, 404, {});
    if (endpoint.failNext > 0) {
      endpoint.failNext--;
      return reply(res, 503, { error: { code: 'UNAVAILABLE', message: 'try again' } });
    }
    if (req.headers.authorization !== `Bearer ${options.token}`) {
      return reply(res, 401, { error: { code: 'UNAUTHORIZED', message: 'bad instance token' } });
    }
    let publicKey: unknown;
    try {
      publicKey = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { publicKey?: unknown }).publicKey;
    } catch {
      publicKey = undefined;
    }
    if (typeof publicKey !== 'string' || !publicKey.includes('BEGIN PUBLIC KEY')) {
      return reply(res, 400, { error: { code: 'BAD_REQUEST', message: 'publicKey must be an SPKI PEM' } });
    }
    const leaf = await endpoint.issuer.issue(publicKey, options.identity, endpoint.lifetimeMs);
    return reply(res, 200, {
      certificate: leaf,
      chain: leaf,
      notAfter: new X509Certificate(leaf).validToDate.toISOString(),
      trustBundle: endpoint.trustBundle,
    });
  };
  const server = createServer((req, res) => {
    const receivedAt = Date.now();
    handle(req, res).then(
      (status) =>
        endpoint.requests.push({
          authorization: req.headers.authorization,
          status,
          receivedAt,
          answeredAt: Date.now(),
        }),
      (error: unknown) => res.destroy(error as Error),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const endpoint: TestCertificateEndpoint = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    trustBundle: [options.ca.root],
    issuer: options.ca,
    lifetimeMs: options.lifetimeMs,
    failNext: 0,
    requests: [],
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  return endpoint;
}

function reply(res: ServerResponse, status: number, body: object): number {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  return status;
}

/** What the test workload server answers: how the request came in and who sent it. */
export interface PeerReport {
  encrypted: boolean;
  peer: WorkloadIdentity | null;
}

/** A workload server: plaintext and TLS on one port, told apart by the first byte. */
export interface TestWorkloadServer {
  readonly port: number;
  /** Handshakes the TLS terminator failed (`tlsClientError`). */
  readonly handshakeErrors: Error[];
  /** Every request, in order: its socket, peerIdentity(), and the fingerprint of the client's certificate. */
  readonly seen: { socket: Socket; identity: WorkloadIdentity | undefined; peerCert: string | undefined }[];
  close(): Promise<void>;
}

/**
 * Serves like the runtime will: one port, a first byte of 0x16 (a TLS handshake record) goes to
 * the terminator of `workloadTls`, anything else to node:http as plaintext; decrypted sockets go
 * to the same node:http server. Answers with a PeerReport.
 */
export async function startWorkloadServer(
  workloadTls: WorkloadTls,
  options: { rejectUnauthorized?: boolean } = {},
): Promise<TestWorkloadServer> {
  const handshakeErrors: Error[] = [];
  const seen: TestWorkloadServer['seen'] = [];
  const http = createServer((req, res) => {
    const socket = req.socket as TLSSocket;
    const identity = socket.encrypted ? peerIdentity(socket) : undefined;
    seen.push({ socket, identity, peerCert: socket.getPeerX509Certificate?.()?.fingerprint256 });
    const report: PeerReport = { encrypted: socket.encrypted === true, peer: identity ?? null };
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(report));
  });
  const terminator = workloadTls.createServer(options);
  terminator.on('secureConnection', (tlsSocket: TLSSocket) => http.emit('connection', tlsSocket));
  terminator.on('tlsClientError', (error: Error) => handshakeErrors.push(error));
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('readable', () => {
      const first = socket.read(1) as Buffer | null;
      if (first === null) return;
      socket.unshift(first);
      (first[0] === 0x16 ? terminator : http).emit('connection', socket);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    handshakeErrors,
    seen,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/**
 * A GET over TLS to a test workload server: its report and the certificate the server presented.
 * Without an agent, each call is a connection of its own and `checkServerIdentity` (by default: any
 * server) is the request's. An agent brings its own, since node:https pools no socket of a request
 * that has a checkServerIdentity of its own.
 */
export function getOverTls(
  port: number,
  options: {
    secureContext: SecureContext;
    checkServerIdentity?: (hostname: string, cert: PeerCertificate) => Error | undefined;
    agent?: Agent;
  },
): Promise<{ report: PeerReport; serverCert: X509Certificate }> {
  // node:https hands secureContext on to tls.connect; its types only lack it.
  const requestOptions: RequestOptions & { secureContext: SecureContext } = {
    host: '127.0.0.1',
    port,
    path: '/',
    secureContext: options.secureContext,
  };
  if (options.agent === undefined) {
    requestOptions.agent = false;
    requestOptions.checkServerIdentity = options.checkServerIdentity ?? (() => undefined);
  } else {
    requestOptions.agent = options.agent;
  }
  return new Promise((resolve, reject) => {
    const req = request(requestOptions, (res) => {
      const serverCert = (res.socket as TLSSocket).getPeerX509Certificate();
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        if (serverCert === undefined) return reject(new Error('no server certificate'));
        resolve({ report: JSON.parse(Buffer.concat(chunks).toString('utf8')) as PeerReport, serverCert });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

import { generateKeyPairSync, type KeyPairKeyObjectResult, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { workloadUri } from '@flotilla/spec';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CaError, CertificateAuthority, caFiles } from './index.ts';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const orders = { system: 'shop', service: 'orders', version: 'v1' };
const gateway = { system: 'shop', service: 'gateway', version: 'v1' };

let dir: string;
let lines: { level: number; msg: string }[];
const log = () =>
  pino(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) },
  );

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-ca-'));
  lines = [];
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A clock the test moves by hand. */
function manualClock(start = Date.parse('2026-06-01T12:00:00.000Z')) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function ecKeys(): KeyPairKeyObjectResult {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

const spki = (keys: KeyPairKeyObjectResult) =>
  keys.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const pkcs8 = (keys: KeyPairKeyObjectResult) =>
  keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

// No hold after an issue (oldRootHoldMs: 0), so that the bundle can be read right after; the hold has its own test.
const open = (caDir = join(dir, 'ca'), clock?: { now(): number }, oldRootHoldMs = 0) =>
  CertificateAuthority.open({ dir: caDir, system: 'shop', log: log(), clock, oldRootHoldMs });

describe('issuing', () => {
  it('issues a certificate naming the workload, valid from a minute ago for its TTL, for TLS servers and clients, signed by the root', async () => {
    const clock = manualClock();
    const ca = await open(undefined, clock);
    const keys = ecKeys();
    const issued = await ca.issue({
      instance: 'orders-v1-1',
      publicKeyPem: spki(keys),
      identity: orders,
      ttlMs: 3_600_000,
    });

    const leaf = new X509Certificate(issued.certificate);
    const root = new X509Certificate(ca.trustBundle()[0]!);
    expect(leaf.subjectAltName).toBe(`URI:${workloadUri(orders)}`);
    expect(leaf.subjectAltName).toBe('URI:spiffe://flotilla.local/ns/shop/sa/orders/v/v1');
    expect(Date.parse(leaf.validFrom)).toBe(clock.now() - 60_000);
    expect(Date.parse(leaf.validTo)).toBe(clock.now() + 3_600_000);
    expect(issued.notAfter).toBe(new Date(clock.now() + 3_600_000).toISOString());
    expect(leaf.keyUsage).toEqual([SERVER_AUTH, CLIENT_AUTH]);
    expect(leaf.ca).toBe(false);
    expect(leaf.publicKey.equals(keys.publicKey)).toBe(true);
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(leaf.checkIssued(root)).toBe(true);
    expect(issued.chain).toBe(issued.certificate);

    expect(root.ca).toBe(true);
    expect(root.checkIssued(root)).toBe(true);
    expect(Date.parse(root.validTo) - clock.now()).toBeGreaterThan(9.9 * 365 * 24 * 3_600_000);
    expect(root.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('gives every certificate its own random serial', async () => {
    const ca = await open();
    const keys = ecKeys();
    const request = { instance: 'orders-v1-1', publicKeyPem: spki(keys), identity: orders, ttlMs: 60_000 };
    const serials = new Set<string>();
    for (let i = 0; i < 5; i++)
      serials.add(new X509Certificate((await ca.issue(request)).certificate).serialNumber);
    expect(serials.size).toBe(5);
  });

  it('issues for P-384, Ed25519 and RSA keys as well as P-256', async () => {
    const ca = await open();
    const root = new X509Certificate(ca.trustBundle()[0]!);
    for (const keys of [
      generateKeyPairSync('ec', { namedCurve: 'P-384' }),
      generateKeyPairSync('ed25519'),
      generateKeyPairSync('rsa', { modulusLength: 2048 }),
    ]) {
      const issued = await ca.issue({
        instance: 'x-v1-1',
        publicKeyPem: spki(keys),
        identity: orders,
        ttlMs: 60_000,
      });
      expect(new X509Certificate(issued.certificate).verify(root.publicKey)).toBe(true);
    }
  });

  it.each<[string, () => string, string]>([
    ['a private key', () => pkcs8(ecKeys()), 'That is a private key'],
    [
      'a certificate',
      () => '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      'Expected one public key as SPKI PEM',
    ],
    ['two public keys', () => spki(ecKeys()) + spki(ecKeys()), 'Expected one public key as SPKI PEM'],
    [
      'a PEM that does not decode',
      () => '-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n',
      'does not decode',
    ],
    [
      'an RSA key of 1024 bits',
      () => spki(generateKeyPairSync('rsa', { modulusLength: 1024 })),
      'not for a rsa key of 1024 bits',
    ],
    [
      'a key on another curve',
      () => spki(generateKeyPairSync('ec', { namedCurve: 'secp256k1' })),
      'not for an EC key on secp256k1',
    ],
  ])('refuses %s and says what to send', async (_, pem, message) => {
    const ca = await open();
    const key = pem();
    const failure = await ca
      .issue({ instance: 'orders-v1-1', publicKeyPem: key, identity: orders, ttlMs: 60_000 })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CaError);
    expect((failure as CaError).code).toBe('FLOTILLA_CA_PUBLIC_KEY');
    expect((failure as CaError).message).toContain(message);
    expect((failure as CaError).message).not.toContain(key.split('\n')[1]);
  });
});

describe('mutual TLS with issued certificates', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  /** A TLS server that requires a client certificate from `ca`, and answers with the client's URI SAN. */
  async function serve(key: string, cert: string, ca: string[]) {
    const accepted: string[] = [];
    server = createServer({ key, cert, ca, requestCert: true, rejectUnauthorized: true }, (socket) => {
      const peer = socket.getPeerCertificate().subjectaltname ?? '';
      accepted.push(peer);
      socket.end(peer);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as AddressInfo).port, accepted };
  }

  /** Connects with a client certificate; resolves with what the server said, or rejects with the TLS error. */
  function call(port: number, key: string, cert: string, ca: string[], expectedServer: string) {
    return new Promise<string>((resolve, reject) => {
      const socket: TLSSocket = connect({
        host: '127.0.0.1',
        port,
        key,
        cert,
        ca,
        // Peers are named by their URI SAN, not by a host name.
        checkServerIdentity: (_, peer) =>
          peer.subjectaltname === `URI:${expectedServer}`
            ? undefined
            : new Error(`server is ${peer.subjectaltname}`),
      });
      let said = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        said += chunk;
      });
      socket.on('end', () => resolve(said));
      socket.on('error', reject);
    });
  }

  async function credentials(ca: CertificateAuthority, instance: string, identity: typeof orders) {
    const keys = ecKeys();
    const issued = await ca.issue({ instance, publicKeyPem: spki(keys), identity, ttlMs: 60_000 });
    return { key: pkcs8(keys), cert: issued.chain };
  }

  it('completes a handshake between two of its certificates, each side seeing the other by URI SAN', async () => {
    const ca = await open();
    const bundle = ca.trustBundle();
    const serverSide = await credentials(ca, 'orders-v1-1', orders);
    const clientSide = await credentials(ca, 'gateway-v1-1', gateway);
    const { port } = await serve(serverSide.key, serverSide.cert, bundle);
    expect(await call(port, clientSide.key, clientSide.cert, bundle, workloadUri(orders))).toBe(
      `URI:${workloadUri(gateway)}`,
    );
  });

  it('refuses a client certificate from another CA on the server, and a server certificate from another CA on the client', async () => {
    const ca = await open();
    const foreign = await open(join(dir, 'foreign-ca'));
    const bundle = ca.trustBundle();
    const serverSide = await credentials(ca, 'orders-v1-1', orders);
    const stranger = await credentials(foreign, 'gateway-v1-1', gateway);
    const { port, accepted } = await serve(serverSide.key, serverSide.cert, bundle);
    // Under TLS 1.3 the client finishes its side before the server has looked at its certificate,
    // so it sees the connection close rather than an error: what matters is that it got no answer.
    const refused = await call(port, stranger.key, stranger.cert, bundle, workloadUri(orders)).catch(
      (error: Error) => error.message,
    );
    expect(refused).not.toContain('URI:');
    expect(accepted).toEqual([]);

    const clientSide = await credentials(ca, 'gateway-v1-1', gateway);
    const foreignServer = await credentials(foreign, 'orders-v1-1', orders);
    await new Promise((resolve) => server!.close(resolve));
    const other = await serve(foreignServer.key, foreignServer.cert, bundle);
    await expect(
      call(other.port, clientSide.key, clientSide.cert, bundle, workloadUri(orders)),
    ).rejects.toThrow(/unable to verify|self-signed|issuer/i);
  });
});

describe('the root on disk', () => {
  const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

  it('is kept in 0600 files in a 0700 directory, and a CA opened again on it trusts what it issued', async () => {
    const caDir = join(dir, 'ca');
    const first = await open(caDir);
    const issued = await first.issue({
      instance: 'orders-v1-1',
      publicKeyPem: spki(ecKeys()),
      identity: orders,
      ttlMs: 60_000,
    });
    expect(await modeOf(caDir)).toBe(0o700);
    expect(await modeOf(caFiles(caDir).certificate)).toBe(0o600);
    expect(await modeOf(caFiles(caDir).key)).toBe(0o600);
    expect(lines.map((l) => l.msg)).toEqual(['CA: created a new root']);

    const again = await open(caDir);
    expect(again.trustBundle()).toEqual(first.trustBundle());
    const root = new X509Certificate(again.trustBundle()[0]!);
    expect(new X509Certificate(issued.certificate).verify(root.publicKey)).toBe(true);
    const next = await again.issue({
      instance: 'orders-v1-1',
      publicKeyPem: spki(ecKeys()),
      identity: orders,
      ttlMs: 60_000,
    });
    expect(new X509Certificate(next.certificate).checkIssued(root)).toBe(true);
    expect(lines.map((l) => l.msg)).toEqual(['CA: created a new root']);
  });

  it.each<[string, (files: ReturnType<typeof caFiles>) => Promise<void>, string]>([
    [
      'a certificate that does not parse',
      (f) => writeFile(f.certificate, 'garbage\n'),
      'root.pem is unusable',
    ],
    ['a missing key', (f) => rm(f.key), 'root-key.pem is missing'],
    [
      'a key of another root',
      async (f) => {
        await writeFile(f.key, pkcs8(ecKeys()));
      },
      'the key does not belong to the certificate',
    ],
  ])('is replaced, with a warning that says why, after %s', async (_, spoil, reason) => {
    const caDir = join(dir, 'ca');
    const before = (await open(caDir)).trustBundle();
    await spoil(caFiles(caDir));
    lines = [];
    const after = await open(caDir);
    expect(after.trustBundle()).toHaveLength(1);
    expect(after.trustBundle()).not.toEqual(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe(40);
    expect(lines[0]!.msg).toContain(reason);
    expect(lines[0]!.msg).toContain(
      'created a new root, so certificates issued by the old one are no longer trusted',
    );
    expect(await readFile(caFiles(caDir).certificate, 'utf8')).toBe(after.trustBundle()[0]);
  });

  it('never writes the key to the log', async () => {
    await open();
    const key = await readFile(caFiles(join(dir, 'ca')).key, 'utf8');
    expect(JSON.stringify(lines)).not.toContain(key.split('\n')[1]);
  });
});

describe('rotation', () => {
  const request = (instance: string) => ({
    instance,
    publicKeyPem: spki(ecKeys()),
    identity: orders,
    ttlMs: 60_000,
  });
  const issuerOf = (pem: string, bundle: string[]) =>
    bundle.findIndex((root) => new X509Certificate(pem).checkIssued(new X509Certificate(root)));

  it('trusts old and new root until every live instance renewed from the new one, issuing from the new root meanwhile', async () => {
    const ca = await open();
    const heard: string[][] = [];
    ca.onChange((bundle) => heard.push(bundle));
    ca.retain(['orders-v1-1', 'orders-v1-2']);
    await ca.issue(request('orders-v1-1'));
    await ca.issue(request('orders-v1-2'));
    const [old] = ca.trustBundle();

    const rotation = await ca.rotate();
    const bundle = ca.trustBundle();
    expect(bundle).toHaveLength(2);
    expect(bundle[0]).toBe(old);
    expect(rotation).toEqual({
      fingerprint: new X509Certificate(bundle[1]!).fingerprint256,
      notAfter: expect.stringMatching(/^\d{4}-/),
      trustBundleSize: 2,
    });
    expect(heard).toEqual([bundle]);

    const renewed = await ca.issue(request('orders-v1-1'));
    expect(issuerOf(renewed.certificate, bundle)).toBe(1);
    expect(ca.trustBundle()).toEqual(bundle);

    await ca.issue(request('orders-v1-2'));
    expect(ca.trustBundle()).toEqual([bundle[1]]);
    expect(heard).toEqual([bundle, [bundle[1]]]);
    expect(lines.map((l) => l.msg)).toContain(
      'CA: no running instance holds a certificate of the old root any more; it is no longer trusted',
    );
  });

  it('keeps the old root a moment after the last renewal, while the renewed instance installs its certificate', async () => {
    const ca = await open(undefined, undefined, 100);
    ca.retain(['orders-v1-1']);
    await ca.issue(request('orders-v1-1'));
    await ca.rotate();
    await ca.issue(request('orders-v1-1'));
    expect(ca.trustBundle()).toHaveLength(2);
    const dropped = new Promise<string[]>((resolve) => ca.onChange(resolve));
    const startedAt = performance.now();
    expect(await dropped).toHaveLength(1);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(90);
  });

  it('drops the old root when the last instance holding a certificate of it stops', async () => {
    const ca = await open();
    ca.retain(['orders-v1-1', 'orders-v1-2']);
    await ca.issue(request('orders-v1-1'));
    await ca.issue(request('orders-v1-2'));
    await ca.rotate();
    await ca.issue(request('orders-v1-1'));
    expect(ca.trustBundle()).toHaveLength(2);
    ca.retain(['orders-v1-1']);
    expect(ca.trustBundle()).toHaveLength(1);
  });

  it('drops the old root at once when no live instance holds a certificate of it', async () => {
    const ca = await open();
    ca.retain(['orders-v1-1']);
    const heard: number[] = [];
    ca.onChange((bundle) => heard.push(bundle.length));
    expect(await ca.rotate()).toMatchObject({ trustBundleSize: 1 });
    expect(heard).toEqual([1]);
  });

  it('drops the old root once the certificates of it have expired, at the next look', async () => {
    const clock = manualClock();
    const ca = await open(undefined, clock);
    ca.retain(['orders-v1-1', 'orders-v1-2']);
    await ca.issue(request('orders-v1-1'));
    await ca.rotate();
    expect(ca.trustBundle()).toHaveLength(2);
    clock.advance(60_001);
    ca.retain(['orders-v1-1', 'orders-v1-2']);
    expect(ca.trustBundle()).toHaveLength(1);
  });

  it('keeps issuing from the new root after a restart on the same directory', async () => {
    const caDir = join(dir, 'ca');
    const ca = await open(caDir);
    ca.retain(['orders-v1-1']);
    await ca.issue(request('orders-v1-1'));
    await ca.rotate();
    const newest = ca.trustBundle().at(-1);
    expect((await open(caDir)).trustBundle()).toEqual([newest]);
  });

  it('runs rotations asked for at once one after the other', async () => {
    const ca = await open();
    ca.retain(['orders-v1-1']);
    await ca.issue(request('orders-v1-1'));
    const [first, second] = await Promise.all([ca.rotate(), ca.rotate()]);
    expect(first.fingerprint).not.toBe(second.fingerprint);
    const bundle = ca.trustBundle();
    expect(bundle).toHaveLength(2);
    expect(new X509Certificate(bundle[1]!).fingerprint256).toBe(second.fingerprint);
  });
});

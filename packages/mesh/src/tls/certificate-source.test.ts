import { createPrivateKey, X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { CertificateError } from '../errors.ts';
import { closedPort, eventually } from '../test-support.ts';
import type { MeshLogger } from '../types.ts';
import {
  CertificateSource,
  type CertificateSourceOptions,
  renewalRetryDelayMs,
} from './certificate-source.ts';
import {
  createTestCa,
  startCertificateEndpoint,
  type TestCa,
  type TestCertificateEndpoint,
} from './test-support.ts';

// The endpoint these tests talk to is a stand-in with the control plane's contract (test-support.ts);
// the control plane's own endpoint is tested in its package.

const TOKEN = 'instance-token-of-orders-v1-1';
const ORDERS = { system: 'shop', service: 'orders', version: 'v1' };

interface Recorder extends MeshLogger {
  lines: { level: string; obj: object; msg: string }[];
}

function recorder(): Recorder {
  const lines: Recorder['lines'] = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function endpoint(lifetimeMs: number, ca?: TestCa): Promise<TestCertificateEndpoint> {
  const started = await startCertificateEndpoint({
    ca: ca ?? (await createTestCa('flotilla-root-1')),
    identity: ORDERS,
    token: TOKEN,
    lifetimeMs,
  });
  cleanups.push(() => started.close());
  return started;
}

async function start(
  control: TestCertificateEndpoint,
  options: Partial<CertificateSourceOptions> = {},
): Promise<{ source: CertificateSource; log: Recorder; renewals: number[] }> {
  const log = recorder();
  const source = await CertificateSource.start({
    controlUrl: control.url,
    instanceToken: TOKEN,
    log,
    ...options,
  });
  cleanups.push(() => source.close());
  const renewals: number[] = [];
  source.onRenew(() => renewals.push(Date.now()));
  return { source, log, renewals };
}

function issuer(source: CertificateSource): string {
  return new X509Certificate(source.current().cert).issuer;
}

describe('CertificateSource', () => {
  it('gets a certificate for a key of its own, and reads its identity from the URI SAN', async () => {
    const control = await endpoint(3_600_000);
    const { source } = await start(control);

    expect(source.identity).toEqual(ORDERS);
    const { key, cert } = source.current();
    const leaf = new X509Certificate(cert);
    expect(leaf.checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(source.notAfter).toEqual(leaf.validToDate);
    expect(source.trustBundle()).toEqual([control.trustBundle[0]]);
    expect(control.requests).toMatchObject([{ authorization: `Bearer ${TOKEN}`, status: 200 }]);
  });

  it('refuses to start when the control plane refuses the instance token', async () => {
    const control = await endpoint(3_600_000);
    const log = recorder();
    const started = CertificateSource.start({ controlUrl: control.url, instanceToken: 'stolen', log });
    await expect(started).rejects.toMatchObject({ code: 'MESH_CERT_UNAUTHORIZED', statusCode: 401 });
    await expect(started).rejects.not.toThrow(/stolen/);
  });

  it('refuses to start when the control plane cannot be reached', async () => {
    const controlUrl = `http://127.0.0.1:${await closedPort()}`;
    const started = CertificateSource.start({ controlUrl, instanceToken: TOKEN, log: recorder() });
    await expect(started).rejects.toBeInstanceOf(CertificateError);
    await expect(started).rejects.toMatchObject({ code: 'MESH_CERT_UNREACHABLE', controlUrl });
  });

  it('renews at half-life with a new key, telling its listeners, without being restarted', async () => {
    const control = await endpoint(1_000);
    const { source, renewals } = await start(control);
    const first = source.current();
    // The source counts the lifetime from when the answer arrived, a little after it was sent.
    const answeredAt = control.requests[0]!.answeredAt;
    const halfLifeAt = answeredAt + (source.notAfter.getTime() - answeredAt) / 2;

    await eventually(() => renewals.length === 2, 5_000);

    // notAfter has whole seconds, so the first lifetime is anywhere in [1 s, 2 s); its half is what counts.
    expect(control.requests[1]!.receivedAt).toBeGreaterThanOrEqual(Math.floor(halfLifeAt));
    expect(control.requests[1]!.receivedAt).toBeLessThan(halfLifeAt + 400);
    expect(source.current()).not.toBe(first);
    expect(source.current().key).not.toBe(first.key);
    expect(source.identity).toEqual(ORDERS);
  });

  it('keeps the old certificate while a renewal fails, retries with backoff, and warns without the token', async () => {
    const control = await endpoint(3_000);
    const { source, log, renewals } = await start(control);
    const first = source.current();
    control.failNext = 1;

    await eventually(() => control.requests.length === 2, 3_000);
    await eventually(() => log.lines.length === 1);
    expect(source.current()).toBe(first);
    expect(log.lines[0]).toMatchObject({
      level: 'warn',
      obj: { code: 'MESH_CERT_STATUS', controlUrl: control.url, notAfter: source.notAfter.toISOString() },
    });
    expect(log.lines[0]!.msg).toContain(control.url);

    await eventually(() => renewals.length === 1, 2_000);
    const retryAfterMs = control.requests[2]!.receivedAt - control.requests[1]!.answeredAt;
    expect(retryAfterMs).toBeGreaterThanOrEqual(450);
    expect(retryAfterMs).toBeLessThan(1_500);
    expect(source.current()).not.toBe(first);
    expect(log.lines[1]).toMatchObject({ level: 'info', obj: { controlUrl: control.url } });
    const logged = JSON.stringify(log.lines, (_key, value) =>
      value instanceof Error ? value.message : value,
    );
    expect(logged).not.toContain(TOKEN);
    expect(logged).not.toContain('PRIVATE KEY');
  });

  it('renews at once, and once, when a trust bundle names a root that did not issue its certificate', async () => {
    const oldRoot = await createTestCa('flotilla-root-1');
    const control = await endpoint(3_600_000, oldRoot);
    const { source, renewals } = await start(control);
    const newRoot = await createTestCa('flotilla-root-2');
    control.issuer = newRoot;
    control.trustBundle = [oldRoot.root, newRoot.root];

    source.trustBundleChanged([oldRoot.root, newRoot.root]);
    await eventually(() => renewals.length === 1);

    expect(issuer(source)).toBe('CN=flotilla-root-2');
    source.trustBundleChanged([oldRoot.root, newRoot.root]);
    source.trustBundleChanged([newRoot.root]);
    await sleep(100);
    expect(control.requests).toHaveLength(2);
  });

  it('does not ask again for the same new root when the CA still issues from the old one', async () => {
    const oldRoot = await createTestCa('flotilla-root-1');
    const control = await endpoint(3_600_000, oldRoot);
    const { source, renewals } = await start(control);
    const newRoot = await createTestCa('flotilla-root-2');

    source.trustBundleChanged([oldRoot.root, newRoot.root]);
    await eventually(() => renewals.length === 1);
    source.trustBundleChanged([oldRoot.root, newRoot.root]);
    await sleep(100);

    expect(issuer(source)).toBe('CN=flotilla-root-1');
    expect(control.requests).toHaveLength(2);
  });

  it('leaves its certificate alone when the newest root of the bundle issued it', async () => {
    const root = await createTestCa('flotilla-root-1');
    const control = await endpoint(3_600_000, root);
    const { source } = await start(control);
    const retired = await createTestCa('flotilla-root-0');

    source.trustBundleChanged([retired.root, root.root]);
    await sleep(100);

    expect(control.requests).toHaveLength(1);
    expect(source.trustBundle()).toEqual([retired.root, root.root]);
  });

  it('hands out the same trust bundle array until its content changes', async () => {
    const control = await endpoint(3_600_000);
    const { source } = await start(control);
    const bundle = source.trustBundle();

    source.trustBundleChanged([...control.trustBundle]);
    expect(source.trustBundle()).toBe(bundle);

    const other = await createTestCa('flotilla-root-0');
    source.trustBundleChanged([other.root, ...control.trustBundle]);
    expect(source.trustBundle()).not.toBe(bundle);
  });

  it('stops renewing once closed', async () => {
    const control = await endpoint(1_000);
    const { source } = await start(control);
    await source.close();
    await sleep(1_100);
    expect(control.requests).toHaveLength(1);
  });

  it('refuses a renew fraction outside (0, 1) before asking for anything', async () => {
    const control = await endpoint(3_600_000);
    await expect(start(control, { renewFraction: 1 })).rejects.toThrow(RangeError);
    expect(control.requests).toHaveLength(0);
  });
});

describe('renewalRetryDelayMs', () => {
  it.each([
    [1, 0, 500],
    [1, 0.999, 999.5],
    [2, 0.5, 1_500],
    [5, 0, 8_000],
    [6, 0.999, 29_985],
    [20, 0, 15_000],
  ])('waits, after failure %i with random %f, %f ms', (failures, random, expected) => {
    expect(renewalRetryDelayMs(failures, random)).toBeCloseTo(expected, 6);
  });
});

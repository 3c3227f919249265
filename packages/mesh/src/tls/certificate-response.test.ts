import { createPrivateKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readCertificateResponse } from './certificate-response.ts';
import { createTestCa, testKeyPair } from './test-support.ts';

const ORDERS = { system: 'shop', service: 'orders', version: 'v1' };

describe('readCertificateResponse', async () => {
  const ca = await createTestCa('flotilla-root-1');
  const own = testKeyPair();
  const privateKey = createPrivateKey(own.key);
  const leaf = await ca.issue(own.publicKey, ORDERS, 3_600_000);
  const now = Date.now();

  it('reads the leaf, its identity and the trust bundle, and pairs the chain with the key', () => {
    const issued = readCertificateResponse(
      { certificate: leaf, chain: leaf, trustBundle: [ca.root] },
      privateKey,
      now,
    );

    expect(issued.identity).toEqual(ORDERS);
    expect(issued.pair.cert).toBe(leaf);
    expect(issued.pair.key).toContain('BEGIN PRIVATE KEY');
    expect(Object.isFrozen(issued.pair)).toBe(true);
    expect(issued.trustBundle).toEqual([ca.root]);
    expect(issued.issuedAt).toBe(now);
  });

  it.each([
    ['no certificate', async () => ({ chain: leaf }), /PEM strings/],
    ['a certificate that is not PEM', async () => ({ certificate: 'nope', chain: 'nope' }), /./],
    [
      'a certificate for another key',
      async () => {
        const other = await ca.issue(testKeyPair().publicKey, ORDERS, 3_600_000);
        return { certificate: other, chain: other };
      },
      /not for the key sent/,
    ],
    [
      'a chain headed by another certificate',
      async () => ({ certificate: leaf, chain: await ca.issue(own.publicKey, ORDERS, 3_600_000) }),
      /chain does not start/,
    ],
    [
      'an expired certificate',
      async () => {
        const expired = await ca.issue(own.publicKey, ORDERS, 1);
        return { certificate: expired, chain: expired, at: Date.now() + 2_000 };
      },
      /already expired/,
    ],
    [
      'a certificate without a workload URI',
      async () => {
        const plain = await ca.issue(own.publicKey, 'https://orders.example', 3_600_000);
        return { certificate: plain, chain: plain };
      },
      /no workload URI SAN/,
    ],
    [
      'a trust bundle that is not a list of PEM',
      async () => ({ certificate: leaf, chain: leaf, trustBundle: ca.root }),
      /trustBundle/,
    ],
  ])('refuses %s', async (_case, body, reason) => {
    const { at, ...answer } = (await body()) as Record<string, unknown> & { at?: number };
    expect(() => readCertificateResponse(answer, privateKey, at ?? now)).toThrow(reason);
  });
});

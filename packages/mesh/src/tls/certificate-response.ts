import { type KeyObject, X509Certificate } from 'node:crypto';
import type { WorkloadIdentity } from '@flotilla/spec';
import { workloadIdentityOfSan } from './peer-identity.ts';
import type { KeyAndChain } from './tls-context.ts';

/** A certificate the control plane issued, checked and ready to present. */
export interface IssuedCertificate {
  /** The private key (PKCS#8 PEM) and the chain; frozen, the same object for the certificate's life. */
  readonly pair: KeyAndChain;
  readonly leaf: X509Certificate;
  readonly identity: WorkloadIdentity;
  /** When the answer arrived (ms since the epoch); the lifetime counts from here. */
  readonly issuedAt: number;
  /** The CA's roots, newest last, when the answer had them. */
  readonly trustBundle: readonly string[] | undefined;
}

/**
 * Reads a 200 answer of `POST /v1/certificate` for the key pair whose private half is
 * `privateKey`. Throws a TypeError naming what is wrong unless the leaf is for that key, heads
 * the chain, has not expired, and names exactly one workload: a certificate failing any of these
 * would make every handshake fail later, far from the cause.
 */
export function readCertificateResponse(
  body: unknown,
  privateKey: KeyObject,
  issuedAt: number,
): IssuedCertificate {
  const { certificate, chain, trustBundle } = (body ?? {}) as Record<string, unknown>;
  if (typeof certificate !== 'string' || typeof chain !== 'string') {
    throw new TypeError('certificate and chain must be PEM strings');
  }
  const leaf = new X509Certificate(certificate);
  if (!leaf.checkPrivateKey(privateKey)) throw new TypeError('the certificate is not for the key sent');
  if (new X509Certificate(chain).fingerprint256 !== leaf.fingerprint256) {
    throw new TypeError('the chain does not start with the certificate');
  }
  if (leaf.validToDate.getTime() <= issuedAt) throw new TypeError('the certificate has already expired');
  const identity = workloadIdentityOfSan(leaf.subjectAltName);
  if (identity === undefined) throw new TypeError(`no workload URI SAN in "${leaf.subjectAltName}"`);
  if (trustBundle !== undefined && !isStringArray(trustBundle)) {
    throw new TypeError('trustBundle must be an array of PEM strings');
  }
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return {
    pair: Object.freeze({ key, cert: chain }),
    leaf,
    identity,
    issuedAt,
    trustBundle: trustBundle === undefined ? undefined : Object.freeze([...trustBundle]),
  };
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

import { createPrivateKey, X509Certificate as NodeCertificate, randomBytes, webcrypto } from 'node:crypto';
import { CA_DEFAULTS } from '../defaults.ts';
import * as x509 from './x509.ts';

/** Roots and leaves are ECDSA P-256 signatures over SHA-256. */
export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** The root certificates issue from. Its key never leaves the control plane. */
export interface IssuingRoot {
  /** PEM of the self-signed root certificate: what goes into the trust bundle. */
  pem: string;
  /** SHA-256 of its DER as `AB:CD:…`, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint: string;
  notAfterMs: number;
  certificate: x509.X509Certificate;
  signingKey: webcrypto.CryptoKey;
  /** PKCS#8 PEM of the signing key, for `.flotilla/ca/`. */
  keyPem: string;
}

/**
 * A new root: a fresh P-256 key and a self-signed certificate, CA with path length 0 (it signs
 * leaves only, never another CA), key usage keyCertSign, valid for `CA_DEFAULTS.rootValidityMs`.
 * Each root gets its own subject, so that two roots trusted side by side during a rotation are
 * told apart by name as well as by key identifier.
 */
export async function createRoot(system: string, nowMs: number): Promise<IssuingRoot> {
  const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const serialNumber = randomSerial();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber,
      name: `CN=Flotilla root CA ${serialNumber.slice(0, 8)}, OU=${system}, O=Flotilla`,
      notBefore: new Date(nowMs - CA_DEFAULTS.clockSkewMs),
      notAfter: new Date(nowMs + CA_DEFAULTS.rootValidityMs),
      keys,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
  return issuingRoot(certificate.toString('pem'), keyPem, keys.privateKey);
}

/**
 * A root read back from its PEM files. Throws, with the reason as message, when the certificate
 * does not parse, is not a CA, has expired, or does not belong to the key: any of these makes the
 * pair useless and the caller starts a new root.
 */
export async function readRoot(pem: string, keyPem: string, nowMs: number): Promise<IssuingRoot> {
  const parsed = new NodeCertificate(pem);
  if (!parsed.ca) throw new Error('the certificate is not a CA certificate');
  if (Date.parse(parsed.validTo) <= nowMs) throw new Error(`the root expired on ${parsed.validTo}`);
  const key = createPrivateKey({ key: keyPem, format: 'pem' });
  if (!parsed.checkPrivateKey(key)) throw new Error('the key does not belong to the certificate');
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const signingKey = await webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
  return issuingRoot(pem, keyPem, signingKey);
}

/** A positive serial of 16 random bytes (RFC 5280: at most 20 octets, unpredictable), as hex. */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

function issuingRoot(pem: string, keyPem: string, signingKey: webcrypto.CryptoKey): IssuingRoot {
  const parsed = new NodeCertificate(pem);
  return {
    pem: parsed.toString(),
    fingerprint: parsed.fingerprint256,
    notAfterMs: Date.parse(parsed.validTo),
    certificate: new x509.X509Certificate(pem),
    signingKey,
    keyPem,
  };
}

import { createPublicKey, type KeyObject } from 'node:crypto';
import { CaError } from './errors.ts';

/** Curves of EC keys a certificate is issued for: those every TLS stack verifies. */
const CURVES = new Set(['prime256v1', 'secp384r1']);
const MIN_RSA_BITS = 2048;

/**
 * Reads the public key an instance sends: one SPKI PEM block (`-----BEGIN PUBLIC KEY-----`) of an
 * EC P-256 or P-384, Ed25519, or RSA (2048 bits or more) key. The key itself never appears in a
 * message, so that a private key sent by mistake is not echoed back or logged.
 */
export function readPublicKey(pem: string): KeyObject {
  if (pem.includes('PRIVATE KEY')) {
    throw new CaError(
      'FLOTILLA_CA_PUBLIC_KEY',
      'That is a private key: send only the public key (SPKI PEM, "-----BEGIN PUBLIC KEY-----") and keep the private key in the instance.',
    );
  }
  const blocks = pem.match(/-----BEGIN [A-Z ]+-----/g) ?? [];
  if (blocks.length !== 1 || blocks[0] !== '-----BEGIN PUBLIC KEY-----') {
    throw new CaError(
      'FLOTILLA_CA_PUBLIC_KEY',
      'Expected one public key as SPKI PEM ("-----BEGIN PUBLIC KEY-----"), as `crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" })` writes it.',
    );
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem', type: 'spki' });
  } catch (cause) {
    throw new CaError('FLOTILLA_CA_PUBLIC_KEY', 'The public key PEM does not decode as an SPKI key.', {
      cause,
    });
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  const accepted =
    (type === 'ec' && CURVES.has(details.namedCurve ?? '')) ||
    type === 'ed25519' ||
    (type === 'rsa' && (details.modulusLength ?? 0) >= MIN_RSA_BITS);
  if (!accepted) {
    const what = type === 'ec' ? `an EC key on ${details.namedCurve}` : `a ${type ?? 'unknown'} key`;
    throw new CaError(
      'FLOTILLA_CA_PUBLIC_KEY',
      `Certificates are issued for EC P-256 (preferred) or P-384, Ed25519, or RSA keys of ${MIN_RSA_BITS} bits or more, not for ${what}${type === 'rsa' ? ` of ${details.modulusLength} bits` : ''}.`,
    );
  }
  return key;
}

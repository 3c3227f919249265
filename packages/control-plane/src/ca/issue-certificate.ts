import { type KeyObject, webcrypto } from 'node:crypto';
import { type WorkloadIdentity, workloadUri } from '@flotilla/spec';
import { CA_DEFAULTS } from '../defaults.ts';
import { type IssuingRoot, randomSerial, SIGNING_ALGORITHM } from './root.ts';
import * as x509 from './x509.ts';

/** A leaf certificate as issued: its PEM and when it stops being valid. */
export interface SignedLeaf {
  pem: string;
  notAfterMs: number;
}

/**
 * Signs a workload's leaf certificate with `root`: a random serial, valid from a minute before
 * `nowMs` (for peers whose clocks are a little behind) for `ttlMs` (never past the root's own end),
 * the workload URI as its one SAN, key usage digitalSignature, extended key usage serverAuth and
 * clientAuth (every instance is both a server and a client of the mesh), and not a CA.
 */
export async function signLeaf(
  root: IssuingRoot,
  publicKey: KeyObject,
  identity: WorkloadIdentity,
  ttlMs: number,
  nowMs: number,
): Promise<SignedLeaf> {
  const subjectKey = new x509.PublicKey(publicKey.export({ type: 'spki', format: 'der' }));
  const notAfterMs = Math.min(nowMs + ttlMs, root.notAfterMs);
  const leaf = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: `CN=${identity.service} ${identity.version}, OU=${identity.system}, O=Flotilla`,
      issuer: root.certificate.subjectName,
      notBefore: new Date(nowMs - CA_DEFAULTS.clockSkewMs),
      notAfter: new Date(notAfterMs),
      publicKey: subjectKey,
      signingKey: root.signingKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: workloadUri(identity) }]),
        await x509.AuthorityKeyIdentifierExtension.create(root.certificate.publicKey, false, webcrypto),
        await x509.SubjectKeyIdentifierExtension.create(subjectKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  // Whole seconds: X.509 times have no fractions, so the certificate says notAfter rounded down.
  return { pem: leaf.toString('pem'), notAfterMs: leaf.notAfter.getTime() };
}

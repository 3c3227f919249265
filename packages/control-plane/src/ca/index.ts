export {
  CertificateAuthority,
  type CertificateAuthorityOptions,
  type CertificateRequest,
  type IssuedCertificate,
} from './certificate-authority.ts';
export { CaError, type CaErrorCode } from './errors.ts';
export { caFiles } from './root-store.ts';
export { type IssuedRecord, rootsToTrust, type TrustInput } from './trusted-roots.ts';

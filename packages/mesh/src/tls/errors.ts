/** Why the control plane did not give this process a usable certificate. */
export const CERTIFICATE_ERRORS = {
  MESH_CERT_UNAUTHORIZED:
    'refused the instance token; the process needs the token it was started with (FLOTILLA_INSTANCE_TOKEN)',
  MESH_CERT_REJECTED: 'rejected the certificate request as malformed',
  MESH_CERT_STATUS: 'answered the certificate request with an unexpected status',
  MESH_CERT_UNREACHABLE: 'is unreachable or did not answer the certificate request in time',
  MESH_CERT_BAD_RESPONSE:
    'answered with a certificate that cannot be used (not PEM, not for the key sent, expired, or without a workload URI SAN)',
} as const satisfies Record<string, string>;

export type CertificateErrorCode = keyof typeof CERTIFICATE_ERRORS;

/** A certificate request that failed. A held certificate stays in use while renewal is retried. */
export class CertificateError extends Error {
  readonly code: CertificateErrorCode;
  /** The control plane's base URL. */
  readonly controlUrl: string;
  /** HTTP status of the answer, when there was one. */
  readonly statusCode: number | undefined;

  constructor(
    code: CertificateErrorCode,
    controlUrl: string,
    options: { statusCode?: number; cause?: unknown } = {},
  ) {
    const status = options.statusCode === undefined ? '' : ` (HTTP ${options.statusCode})`;
    super(`The control plane at ${controlUrl} ${CERTIFICATE_ERRORS[code]}${status}.`, {
      cause: options.cause,
    });
    this.name = 'CertificateError';
    this.code = code;
    this.controlUrl = controlUrl;
    this.statusCode = options.statusCode;
  }
}

/** A peer whose verified certificate names a workload other than the one expected. */
export class PeerIdentityError extends Error {
  readonly code = 'MESH_TLS_PEER_IDENTITY';
  /** The peer certificate's subjectAltName, as OpenSSL prints it. */
  readonly subjectAltName: string | undefined;

  constructor(expected: { system: string; service: string }, subjectAltName: string | undefined) {
    super(
      `The peer's certificate does not name service "${expected.service}" of system "${expected.system}" ` +
        `(subjectAltName: ${subjectAltName ?? 'none'}); the routing table may point at an instance of another service.`,
    );
    this.name = 'PeerIdentityError';
    this.subjectAltName = subjectAltName;
  }
}

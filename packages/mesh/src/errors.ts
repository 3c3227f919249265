/**
 * The mesh's error catalogue. A failed call rejects with a MeshError whose `code` is stable and
 * whose `responseFlag` is the flag Envoy would log for the same failure, so access logs and the
 * `response_flags` metric label read the same locally and on Istio.
 */
export const MESH_ERRORS = {
  MESH_UNKNOWN_SERVICE: {
    responseFlag: 'NR',
    message: 'is not in the routing table; check the service name against flotilla.yaml',
  },
  MESH_NO_ENDPOINT: {
    responseFlag: 'UH',
    message: 'has no ready instance; retry shortly, and see `flotilla status` if it persists',
  },
  MESH_OVERFLOW: {
    responseFlag: 'UO',
    message:
      'has too many calls in flight or waiting from this process (circuit breaker); retry later, or raise its circuitBreaker limits',
  },
  MESH_CONNECT_FAILED: {
    responseFlag: 'UF',
    message: 'refused the connection on every instance tried; its instances may be restarting',
  },
  MESH_TIMEOUT: {
    responseFlag: 'UT',
    message: 'did not answer before the deadline; raise timeoutMs or look at its latency',
  },
  MESH_UPSTREAM_RESET: {
    responseFlag: 'UC',
    message: 'closed the connection before the response was complete; see its logs',
  },
} as const satisfies Record<string, { responseFlag: string; message: string }>;

export type MeshErrorCode = keyof typeof MESH_ERRORS;

/** A call that failed between the caller and the destination service. */
export class MeshError extends Error {
  readonly code: MeshErrorCode;
  readonly responseFlag: (typeof MESH_ERRORS)[MeshErrorCode]['responseFlag'];
  /** The destination service of the call. */
  readonly service: string;

  constructor(code: MeshErrorCode, service: string, options?: ErrorOptions) {
    super(`Service "${service}" ${MESH_ERRORS[code].message}.`, options);
    this.name = 'MeshError';
    this.code = code;
    this.responseFlag = MESH_ERRORS[code].responseFlag;
    this.service = service;
  }
}

/** Why the watch stream of the control plane is not delivering tables. */
export const WATCH_ERRORS = {
  MESH_WATCH_UNAUTHORIZED:
    'refused the data-plane token; the process needs the token of the running control plane (FLOTILLA_DATAPLANE_TOKEN)',
  MESH_WATCH_STATUS: 'answered the watch request with an unexpected status',
  MESH_WATCH_DISCONNECTED: 'is unreachable or closed the watch stream; the last routing table stays in use',
  MESH_WATCH_IDLE: 'sent nothing, not even a heartbeat, for too long; reconnecting',
  MESH_WATCH_BAD_EVENT: 'sent a table event that is not a routing table; it was ignored',
  MESH_WATCH_NO_TABLE: 'has not sent a routing table yet; is `flotilla up` running?',
} as const satisfies Record<string, string>;

export type WatchErrorCode = keyof typeof WATCH_ERRORS;

/** A problem with the control plane's watch stream. The client keeps its last table and retries. */
export class WatchError extends Error {
  readonly code: WatchErrorCode;
  /** The control plane's base URL. */
  readonly controlUrl: string;
  /** HTTP status of the watch response, when there was one. */
  readonly statusCode: number | undefined;

  constructor(
    code: WatchErrorCode,
    controlUrl: string,
    options: { statusCode?: number; cause?: unknown } = {},
  ) {
    const status = options.statusCode === undefined ? '' : ` (HTTP ${options.statusCode})`;
    super(`The control plane at ${controlUrl} ${WATCH_ERRORS[code]}${status}.`, { cause: options.cause });
    this.name = 'WatchError';
    this.code = code;
    this.controlUrl = controlUrl;
    this.statusCode = options.statusCode;
  }
}

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

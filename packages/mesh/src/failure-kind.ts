/**
 * What went wrong on the wire, read from the error codes of Node sockets and undici:
 * - `connect`: no connection was made, so the request reached no process;
 * - `reset`: the connection broke (the process died or closed it);
 * - `timeout`: undici's own header or body timeout fired;
 * - `protocol`: the upstream answered something that is not valid HTTP.
 * Undefined for anything else (a bad argument, an error thrown by the caller's handler).
 */
export type FailureKind = 'connect' | 'reset' | 'timeout' | 'protocol';

const KIND_OF_CODE: ReadonlyMap<string, FailureKind> = new Map([
  ['ECONNREFUSED', 'connect'],
  ['EHOSTUNREACH', 'connect'],
  ['ENETUNREACH', 'connect'],
  ['EADDRNOTAVAIL', 'connect'],
  ['ENOTFOUND', 'connect'],
  ['EAI_AGAIN', 'connect'],
  ['UND_ERR_CONNECT_TIMEOUT', 'connect'],
  // The pool of an endpoint that just left the table refuses new work; the request never left.
  ['UND_ERR_CLOSED', 'connect'],
  ['UND_ERR_DESTROYED', 'connect'],
  // The server's certificate names another workload (checkServerIdentity), or does not verify
  // against the trust bundle (OpenSSL's verify codes): nothing was sent to it.
  ['MESH_TLS_PEER_IDENTITY', 'connect'],
  ['SELF_SIGNED_CERT_IN_CHAIN', 'connect'],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'connect'],
  ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'connect'],
  ['UNABLE_TO_GET_ISSUER_CERT', 'connect'],
  ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'connect'],
  ['CERT_SIGNATURE_FAILURE', 'connect'],
  ['CERT_HAS_EXPIRED', 'connect'],
  ['CERT_NOT_YET_VALID', 'connect'],
  ['CERT_UNTRUSTED', 'connect'],
  ['CERT_REJECTED', 'connect'],
  ['ECONNRESET', 'reset'],
  ['ECONNABORTED', 'reset'],
  ['EPIPE', 'reset'],
  ['ETIMEDOUT', 'reset'],
  ['UND_ERR_SOCKET', 'reset'],
  ['UND_ERR_HEADERS_TIMEOUT', 'timeout'],
  ['UND_ERR_BODY_TIMEOUT', 'timeout'],
  ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'protocol'],
]);

/** Classifies a failed attempt by its error code. */
export function failureKind(error: Error): FailureKind | undefined {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  const kind = KIND_OF_CODE.get(code);
  if (kind !== undefined) return kind;
  if (code.startsWith('HPE_')) return 'protocol';
  // A refused handshake (a certificate the peer does not trust, a server naming another service):
  // no request was sent.
  if (code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_')) return 'connect';
  return undefined;
}

import { describe, expect, it } from 'vitest';
import { type FailureKind, failureKind } from './failure-kind.ts';

const withCode = (code: unknown) => Object.assign(new Error('failed'), { code });

describe('failureKind', () => {
  it.each<[unknown, FailureKind | undefined]>([
    ['ECONNREFUSED', 'connect'],
    ['UND_ERR_CONNECT_TIMEOUT', 'connect'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'connect'],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'connect'],
    // A server whose certificate names another service: the request was never sent to it.
    ['MESH_TLS_PEER_IDENTITY', 'connect'],
    // A server certificate that does not verify against the trust bundle.
    ['SELF_SIGNED_CERT_IN_CHAIN', 'connect'],
    ['CERT_HAS_EXPIRED', 'connect'],
    ['ECONNRESET', 'reset'],
    ['UND_ERR_SOCKET', 'reset'],
    ['UND_ERR_HEADERS_TIMEOUT', 'timeout'],
    ['HPE_INVALID_CONSTANT', 'protocol'],
    ['UND_ERR_INVALID_ARG', undefined],
    [42, undefined],
  ])('classifies an error with code %s as %s', (code, kind) => {
    expect(failureKind(withCode(code))).toBe(kind);
  });
});

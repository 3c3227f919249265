import { ApiError } from './errors.ts';

const EXAMPLE = '{"publicKey": "-----BEGIN PUBLIC KEY-----\\n...\\n-----END PUBLIC KEY-----\\n"}';

/**
 * The public key of a POST /v1/certificate body: `{"publicKey": "<SPKI PEM>"}` and nothing else.
 * Whether the PEM holds a key the CA issues for is the CA's to say.
 */
export function parseCertificateRequest(body: unknown): string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError('BAD_REQUEST', {
      message: `Expected a JSON object like ${EXAMPLE}, with the SPKI PEM of the instance's public key.`,
    });
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (key !== 'publicKey') {
      throw new ApiError('BAD_REQUEST', {
        message: `Unknown field "${key}"; send only "publicKey", as in ${EXAMPLE}.`,
      });
    }
  }
  if (typeof fields.publicKey !== 'string' || fields.publicKey.trim() === '') {
    throw new ApiError('BAD_REQUEST', {
      message: `"publicKey" must be the SPKI PEM of the instance's public key as a string, as in ${EXAMPLE}.`,
    });
  }
  return fields.publicKey;
}

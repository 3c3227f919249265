/** Stable codes of the certificate authority's refusals. */
export type CaErrorCode = 'FLOTILLA_CA_PUBLIC_KEY';

/** A request the CA refuses: the message says what to send instead. */
export class CaError extends Error {
  readonly code: CaErrorCode;

  constructor(code: CaErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CaError';
    this.code = code;
  }
}

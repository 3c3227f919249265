/**
 * The gateway's error catalogue. Every error a client can get has a stable code and a status;
 * the body is always `{"error":{"code","message"}}`, never a stack trace.
 */
export const GATEWAY_ERRORS = {
  ROUTE_NOT_FOUND: { status: 404, message: 'No route matches this request.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'This route does not accept this method.' },
  UNAUTHORIZED: { status: 401, message: 'A valid bearer token is required.' },
  FORBIDDEN: { status: 403, message: 'Not allowed.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; retry after the time in Retry-After.' },
  CORS_REJECTED: { status: 403, message: 'This origin is not allowed.' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than this route accepts.' },
  BAD_REQUEST: { status: 400, message: 'The request is malformed.' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time; send it again.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are larger than the gateway accepts.' },
  JWKS_UNAVAILABLE: {
    status: 503,
    message: 'The keys that verify bearer tokens cannot be fetched yet; retry after the time in Retry-After.',
  },
  UPSTREAM_UNAVAILABLE: { status: 503, message: 'No ready instance of the service; retry shortly.' },
  UPSTREAM_FAILED: { status: 502, message: 'The service failed to answer.' },
  UPSTREAM_TIMEOUT: { status: 504, message: 'The service did not answer in time.' },
  INTERNAL: { status: 500, message: 'The gateway failed to handle this request.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

/** An error the gateway answers with. `headers` go out with it (Retry-After, WWW-Authenticate). */
export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(
    code: GatewayErrorCode,
    options: { message?: string; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(options.message ?? GATEWAY_ERRORS[code].message, { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = GATEWAY_ERRORS[code].status;
    this.headers = options.headers ?? {};
  }

  /** The JSON body clients see. */
  toBody(): string {
    return JSON.stringify({ error: { code: this.code, message: this.message } });
  }
}

/**
 * The admin API's error catalogue. Every error a client can get has a stable code and a status;
 * the body is always `{"error":{"code","message"}}`, never a stack trace.
 */
export const API_ERRORS = {
  BAD_REQUEST: { status: 400, message: 'The request is malformed.' },
  UNAUTHORIZED: {
    status: 401,
    message: 'A valid bearer token is required: Authorization: Bearer <token from .flotilla/admin-token>.',
  },
  FORBIDDEN: {
    status: 403,
    message: 'The data-plane token only grants /v1/watch and /v1/table; use the admin token.',
  },
  NOT_FOUND: { status: 404, message: 'No such resource.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'This path does not accept this method.' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  INTERNAL: { status: 500, message: 'The control plane failed to handle this request; see its log.' },
  UNAVAILABLE: { status: 503, message: 'The control plane is stopping; try again once it is up.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** An error the admin API answers with. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(
    code: ApiErrorCode,
    options: { message?: string; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(options.message ?? API_ERRORS[code].message, { cause: options.cause });
    this.name = 'ApiError';
    this.code = code;
    this.status = API_ERRORS[code].status;
    this.headers = options.headers ?? {};
  }

  /** The JSON body clients see. */
  toBody(): string {
    return JSON.stringify({ error: { code: this.code, message: this.message } });
  }
}

/** Stable codes of the reasons the admin API cannot start listening. */
export type ApiListenErrorCode = 'FLOTILLA_API_HOST' | 'FLOTILLA_PORT_IN_USE';

/** The admin API could not start: a non-loopback host, or a port already taken. */
export class ApiListenError extends Error {
  readonly code: ApiListenErrorCode;

  constructor(code: ApiListenErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ApiListenError';
    this.code = code;
  }
}

/**
 * The runtime's error catalogue: what a client can get from the runtime itself. A service adds
 * codes of its own by throwing `new HttpError(status, code, message)` from a handler.
 */
export const HTTP_ERRORS = {
  NOT_FOUND: { status: 404, message: 'No route matches this path.' },
  METHOD_NOT_ALLOWED: {
    status: 405,
    message: 'This path does not accept this method; see the Allow header.',
  },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  VALIDATION_FAILED: { status: 400, message: 'The request is invalid; see details.' },
  INVALID_VALUE: {
    status: 400,
    message:
      'A value in the request cannot be stored or compared (out of range, or holding a NUL character).',
  },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the request body as application/json.' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than this service accepts.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
  OVERLOADED: {
    status: 503,
    message:
      'The service has more requests waiting for its database than it can take; retry after Retry-After.',
  },
  DATABASE_UNAVAILABLE: {
    status: 503,
    message: 'The service cannot reach its database right now; retry after Retry-After.',
  },
  DEADLINE_EXCEEDED: {
    status: 504,
    message: "The caller's deadline (x-flotilla-timeout-ms) passed before this service could answer.",
  },
  MTLS_REQUIRED: {
    status: 403,
    message:
      'this service accepts only mutual TLS from workloads of the mesh; call it through the mesh client',
  },
  /** Sent with a message naming the workload, the call and the policy that refused it. */
  FORBIDDEN_BY_POLICY: { status: 403, message: 'The service policy does not allow this call.' },
} as const satisfies Record<string, { status: number; message: string }>;

/** Codes of the runtime's own HTTP errors. */
export type HttpErrorCode = keyof typeof HTTP_ERRORS;

/** Options of an HttpError besides status, code and message. */
export interface HttpErrorOptions {
  /** Machine-readable detail sent to the client (field errors, limits). Never internal state. */
  details?: unknown;
  /** Headers sent with the error response (Allow, Retry-After). */
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * An error a handler throws to answer with a status other than 500. It renders itself as
 * `{"error":{"code","message","details"?}}`, so its message must be fit for clients.
 */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, options: HttpErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }

  /** One of the runtime's own errors, by code. */
  static of(code: HttpErrorCode, options: HttpErrorOptions & { message?: string } = {}): HttpError {
    const entry = HTTP_ERRORS[code];
    return new HttpError(entry.status, code, options.message ?? entry.message, options);
  }

  /** The JSON body clients see. */
  toBody(): { error: { code: string; message: string; details?: unknown } } {
    const error: { code: string; message: string; details?: unknown } = {
      code: this.code,
      message: this.message,
    };
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}

/** Codes of RuntimeError: problems of set-up and start-up, not of a request. */
export type RuntimeErrorCode =
  | 'FLOTILLA_CONFIG_MISSING'
  | 'FLOTILLA_CONFIG_INVALID'
  | 'FLOTILLA_SECRET_UNREADABLE'
  | 'FLOTILLA_MIGRATION_CHANGED'
  | 'FLOTILLA_MIGRATION_FAILED'
  | 'FLOTILLA_ROUTE_INVALID'
  | 'FLOTILLA_METRIC_INVALID'
  | 'FLOTILLA_NO_DATABASE'
  | 'FLOTILLA_NO_EVENTS'
  | 'FLOTILLA_SERVICE_STATE';

/** A mistake in how a service is set up or configured; the message says what to change. */
export class RuntimeError extends Error {
  readonly code: RuntimeErrorCode;

  constructor(code: RuntimeErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RuntimeError';
    this.code = code;
  }
}

/** Stable codes of the errors PostgreSQL set-up can fail with. */
export type PostgresErrorCode =
  | 'FLOTILLA_POSTGRES_START_FAILED'
  | 'FLOTILLA_POSTGRES_UNREACHABLE'
  | 'FLOTILLA_POSTGRES_PRIVILEGES'
  | 'FLOTILLA_POSTGRES_PROVISION_FAILED';

/** PostgreSQL could not be started, reached or provisioned; the message says what to do. */
export class PostgresError extends Error {
  readonly code: PostgresErrorCode;

  constructor(code: PostgresErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PostgresError';
    this.code = code;
  }
}

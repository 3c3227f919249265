/** Stable codes of the supervisor's errors; the admin API maps them to statuses. */
export type SupervisorErrorCode =
  | 'FLOTILLA_UNKNOWN_WORKLOAD'
  | 'FLOTILLA_UNKNOWN_VERSION'
  | 'FLOTILLA_INVALID_REPLICAS'
  | 'FLOTILLA_SUPERVISOR_STOPPED';

/** A request the supervisor cannot carry out; the message says what to ask instead. */
export class SupervisorError extends Error {
  readonly code: SupervisorErrorCode;

  constructor(code: SupervisorErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SupervisorError';
    this.code = code;
  }
}

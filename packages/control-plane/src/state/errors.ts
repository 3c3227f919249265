/** Stable codes of the errors the state step can fail with. */
export type StateErrorCode = 'FLOTILLA_ALREADY_RUNNING' | 'FLOTILLA_SECRET_MISSING';

/** A start-up refusal about local state: another run is live, or a secret is missing. */
export class StateError extends Error {
  readonly code: StateErrorCode;

  constructor(code: StateErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StateError';
    this.code = code;
  }
}

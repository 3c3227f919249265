/** A failure the user can act on: printed as one line, exit code 1. */
export class CliError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CliError';
    this.code = code;
  }
}

/** The command line itself is wrong: printed with the command's usage, exit code 2. */
export class UsageError extends CliError {
  /** Usage lines of the command that was misused. */
  readonly usage: string;

  constructor(message: string, usage: string) {
    super('FLOTILLA_USAGE', message);
    this.name = 'UsageError';
    this.usage = usage;
  }
}

/** No control plane runs for this spec: no state file, a dead pid, or a refused connection. */
export class NotRunningError extends CliError {
  constructor(reason: string, options?: ErrorOptions) {
    super('FLOTILLA_NOT_RUNNING', `not running (${reason}); start it with: flotilla up`, options);
    this.name = 'NotRunningError';
  }
}

/** The admin API answered with an error; `apiCode` is the code from its error body. */
export class AdminApiError extends CliError {
  readonly status: number;
  readonly apiCode: string;

  constructor(status: number, apiCode: string, message: string) {
    super('FLOTILLA_ADMIN_API', message);
    this.name = 'AdminApiError';
    this.status = status;
    this.apiCode = apiCode;
  }
}

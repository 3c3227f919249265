/** Stable codes of the reasons the SMTP sink cannot start. */
export type MailErrorCode = 'FLOTILLA_MAIL_HOST' | 'FLOTILLA_MAIL_PORT_IN_USE';

/** The SMTP sink could not start: a non-loopback host, or a port already taken. */
export class MailError extends Error {
  readonly code: MailErrorCode;

  constructor(code: MailErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MailError';
    this.code = code;
  }
}

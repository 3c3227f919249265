/** Stable codes of the reasons the event bus cannot start. */
export type BusErrorCode = 'FLOTILLA_BUS_UNREACHABLE' | 'FLOTILLA_BUS_NOT_PROVISIONED';

/** The event bus could not be reached or set up at start-up; the message says what to do. */
export class BusError extends Error {
  readonly code: BusErrorCode;

  constructor(code: BusErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BusError';
    this.code = code;
  }
}

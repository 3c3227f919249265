/** The part of a pino logger the package uses; pass the service's logger. */
export interface Log {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** A logger that drops everything, for callers that pass none. */
export const silentLog: Log = {
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
};

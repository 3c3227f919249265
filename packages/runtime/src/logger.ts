import type { InstanceIdentity } from '@flotilla/spec';
import { ENV } from '@flotilla/spec';
import pino, { type DestinationStream, type Logger } from 'pino';
import { RuntimeError } from './errors.ts';

/**
 * Keys that hold credentials wherever a caller might log them. The runtime itself never logs
 * headers or secrets; this is the net under a handler that logs a whole object.
 */
const REDACTED = [
  'authorization',
  'cookie',
  'password',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  '*.password',
];

/** The service logger: JSON lines with service, version and instance, at the contract's log level. */
export function createLogger(identity: InstanceIdentity, destination?: DestinationStream): Logger {
  const level = identity.logLevel;
  if (level !== 'silent' && !(level in pino.levels.values)) {
    throw new RuntimeError(
      'FLOTILLA_CONFIG_INVALID',
      `${ENV.logLevel}="${level}" is not a log level (use one of ${Object.keys(pino.levels.values).join(', ')} or silent).`,
    );
  }
  return pino(
    {
      level,
      base: { service: identity.service, version: identity.version, instance: identity.instance },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED, censor: '[redacted]' },
    },
    destination,
  );
}

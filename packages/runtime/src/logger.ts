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
      timestamp: isoTimePerMs(),
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED, censor: '[redacted]' },
    },
    destination,
  );
}

/**
 * pino's `isoTime`, formatted once per millisecond. A busy process (the gateway writes an access
 * line per request) logs many lines within one millisecond, and formatting the date costs about a
 * quarter of such a line (measured: 0.9 µs of 3.4 µs).
 */
function isoTimePerMs(): () => string {
  let lastMs = Number.NaN;
  let field = '';
  return () => {
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      field = `,"time":"${new Date(now).toISOString()}"`;
    }
    return field;
  };
}

import type { Logger } from '@flotilla/runtime';
import type { GatewayErrorCode } from './errors.ts';
import type { ResponseFlags } from './response-flags.ts';

/**
 * One finished request, with the field names of its access log line. The same object feeds the
 * metrics, so a request allocates one record and pino serializes it as it is.
 */
export interface AccessRecord {
  request_id: string;
  method: string;
  /** Path without the query, which may carry secrets. */
  path: string;
  /** The route's name, else its host and prefix; undefined when no route matched. */
  route: string | undefined;
  /** 0 when the client went away before a response started. */
  status: number;
  /** Response body bytes sent to the client. */
  bytes_out: number;
  duration_ms: number;
  upstream_service: string | undefined;
  upstream_version: string | undefined;
  upstream_endpoint: string | undefined;
  response_flags: ResponseFlags;
  /** `mutual_tls` when the upstream call went over mutual TLS. */
  connection_security_policy: 'mutual_tls' | 'none';
  client_ip: string;
  /** The catalogue code when the gateway answered with an error of its own. */
  error_code: GatewayErrorCode | undefined;
}

/**
 * The access log: one JSON line per request, at info, through the gateway's logger (so it has the
 * same base fields and level filter as every other line). It skips the logger's redaction: the
 * record's fields are fixed and none can carry a credential (the path is logged without its query),
 * and redaction would cost more than the rest of the line (measured: 6.8 µs against 2.8 µs).
 */
export function createAccessLog(log: Logger): (record: AccessRecord) => void {
  const lines = log.child({}, { redact: [] });
  return (record) => lines.info(record, 'request');
}

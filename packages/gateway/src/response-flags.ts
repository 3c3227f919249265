import type { GatewayErrorCode } from './errors.ts';

/**
 * Envoy's response flags, the short reason in access logs and in the `response_flags` metric label
 * when a request did not get a plain upstream answer. `-` means none.
 */
export type ResponseFlag = '-' | 'NR' | 'UH' | 'UF' | 'UT' | 'UC' | 'DC' | 'RL' | 'UAEX';

const FLAG_OF_ERROR: Partial<Record<GatewayErrorCode, ResponseFlag>> = {
  ROUTE_NOT_FOUND: 'NR',
  METHOD_NOT_ALLOWED: 'NR',
  RATE_LIMITED: 'RL',
  UNAUTHORIZED: 'UAEX',
  FORBIDDEN: 'UAEX',
};

/** The flag of an error the gateway answered by itself (not an upstream failure). */
export function flagOfError(code: GatewayErrorCode): ResponseFlag {
  return FLAG_OF_ERROR[code] ?? '-';
}

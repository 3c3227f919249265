import type { GatewayErrorCode } from './errors.ts';

/**
 * Envoy's response flags, the short reason in access logs and in the `response_flags` metric label
 * when a request did not get a plain upstream answer. `-` means none.
 */
export type ResponseFlag =
  | '-'
  | 'NR'
  | 'UH'
  | 'UF'
  | 'UT'
  | 'UC'
  | 'UO'
  | 'URX'
  | 'DC'
  | 'RL'
  | 'UAEX'
  | 'FI'
  | 'DI';

/**
 * What the mesh reports for a call: one flag, or several joined by commas as Envoy logs them
 * (`DI,UT`: an injected delay, then the deadline).
 */
export type ResponseFlags = ResponseFlag | `DI,${ResponseFlag}`;

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

import { MeshError } from '@flotilla/mesh';
import { GatewayError, type GatewayErrorCode } from './errors.ts';
import type { ResponseFlag } from './response-flags.ts';

const CODE_OF_FLAG: Record<MeshError['responseFlag'], GatewayErrorCode> = {
  NR: 'UPSTREAM_UNAVAILABLE',
  UH: 'UPSTREAM_UNAVAILABLE',
  UT: 'UPSTREAM_TIMEOUT',
  UF: 'UPSTREAM_FAILED',
  UC: 'UPSTREAM_FAILED',
  UO: 'UPSTREAM_UNAVAILABLE',
};

/**
 * What the client gets when the upstream call fails: no ready instance is a 503, a deadline is a
 * 504, a failed or cut connection is a 502. The mesh's own message stays in the log (as `cause`).
 */
export function upstreamFailure(err: unknown): { error: GatewayError; flag: ResponseFlag } {
  const flag = err instanceof MeshError ? err.responseFlag : 'UC';
  return { error: new GatewayError(CODE_OF_FLAG[flag], { cause: err }), flag };
}

import type { ServiceStatus } from '../types.ts';
import { ApiError } from './errors.ts';

/** A validated POST /v1/services/:service/scale body. */
export interface ScaleRequest {
  replicas: number;
  version: string | undefined;
}

const EXAMPLE = '{"replicas": 2, "version": "v1"}';

/**
 * Validates a scale body against the workload it targets: 400 for a malformed body or value, 404 for
 * a version the workload does not have. The gateway keeps at least one replica, since without one
 * nothing serves traffic.
 */
export function parseScaleRequest(body: unknown, target: ServiceStatus, maxReplicas: number): ScaleRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError('BAD_REQUEST', { message: `Expected a JSON object like ${EXAMPLE}.` });
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (key !== 'replicas' && key !== 'version') {
      throw new ApiError('BAD_REQUEST', {
        message: `Unknown field "${key}"; expected "replicas" and optionally "version", as in ${EXAMPLE}.`,
      });
    }
  }
  const min = target.kind === 'gateway' ? 1 : 0;
  const { replicas, version } = fields;
  if (
    typeof replicas !== 'number' ||
    !Number.isInteger(replicas) ||
    replicas < min ||
    replicas > maxReplicas
  ) {
    throw new ApiError('BAD_REQUEST', {
      message: `"replicas" must be a whole number from ${min} to ${maxReplicas}${min > 0 ? ' (the gateway always keeps one)' : ''}.`,
    });
  }
  if (version !== undefined && typeof version !== 'string') {
    throw new ApiError('BAD_REQUEST', { message: '"version" must be a string naming a version.' });
  }
  const versions = target.versions.map((v) => v.name);
  if (version !== undefined && !versions.includes(version)) {
    throw new ApiError('NOT_FOUND', {
      message: `Service "${target.name}" has no version "${version}" (versions: ${versions.join(', ')}).`,
    });
  }
  return { replicas, version };
}

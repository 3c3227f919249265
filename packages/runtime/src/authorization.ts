import type { AuthorizationRule } from '@flotilla/spec';

/** The workload name the gateway's certificate carries, and the one `from` lists name it by. */
export const GATEWAY_WORKLOAD = 'gateway';

/**
 * Whether a service's policy lets `workload` call `method path`, with the ALLOW semantics of an
 * Istio AuthorizationPolicy: no policy (null) lets anybody in; a policy lets in what one of its
 * rules matches and denies the rest, a caller without a workload identity included. A rule
 * matches when `from` names the workload, and its `methods` and `paths`, where given, hold the
 * method and match the path (exactly, or as a prefix when the pattern ends in `*`).
 */
export function allows(
  rules: readonly AuthorizationRule[] | null,
  workload: string | undefined,
  method: string,
  path: string,
): boolean {
  if (rules === null) return true;
  if (workload === undefined) return false;
  return rules.some(
    (rule) =>
      rule.from.includes(workload) &&
      (rule.methods === undefined || (rule.methods as readonly string[]).includes(method)) &&
      (rule.paths === undefined || rule.paths.some((pattern) => pathMatches(pattern, path))),
  );
}

function pathMatches(pattern: string, path: string): boolean {
  return pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : path === pattern;
}

import type { RouteSpec } from '@flotilla/spec';
import { normalizePrefix } from './router.ts';

/** Turns the path and query a client sent into the ones the upstream gets. */
export type UpstreamPath = (url: string) => string;

const unchanged: UpstreamPath = (url) => url;

/**
 * The upstream path of a route, built once per table revision. `stripPrefix` removes the matched
 * prefix and `rewritePrefix` replaces it; the rest of the path and the query are kept, and an empty
 * path becomes `/`. Trailing slashes of the prefixes do not count (`/api/` is `/api`).
 */
export function upstreamPath(route: RouteSpec): UpstreamPath {
  if (!route.stripPrefix && route.rewritePrefix === undefined) return unchanged;
  const matched = normalizePrefix(route.match.pathPrefix).length;
  const replacement = normalizePrefix(route.rewritePrefix ?? '');
  return (url) => {
    const path = replacement + url.slice(matched);
    return path.charCodeAt(0) === 47 /* / */ ? path : `/${path}`;
  };
}

import type { RouteSpec } from '@flotilla/spec';

const SLASH = 47;
const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** A route as the router sees it, compiled once per table revision. */
interface Entry<T> {
  value: T;
  /** Exact host, lowercase; undefined for a wildcard or any host. */
  host: string | undefined;
  /** `.example.com` for `*.example.com`; undefined otherwise. */
  hostSuffix: string | undefined;
  /** Path prefix without a trailing slash; '' for the root prefix. */
  prefix: string;
  methods: ReadonlySet<string> | undefined;
  /** 0 for an exact host, 1 for a wildcard, 2 for any host. */
  hostRank: number;
  /** Declaration order. */
  index: number;
}

/**
 * Matches requests to routes. Precedence, first match wins:
 * 1. host: an exact host, then `*.suffix` hosts (longest suffix first), then routes without a host
 *    (the way nginx and Envoy pick a virtual host before a path);
 * 2. path prefix: longest first, segment-aware (`/api` matches `/api` and `/api/x`, not `/apix`);
 * 3. declaration order.
 * Methods are a match condition: a request falls through to the next route that accepts its
 * method, and is answered 405 only when routes match its host and path but none its method.
 */
export class Router<T> {
  readonly #entries: Entry<T>[];

  constructor(routes: readonly { spec: RouteSpec; value: T }[]) {
    this.#entries = routes.map(({ spec, value }, index) => compile(spec, value, index)).sort(byRank);
  }

  /** The route for a request, or undefined when none matches all of host, path and method. */
  find(host: string, path: string, method: string): T | undefined {
    for (const entry of this.#entries) {
      if (
        matchesHostAndPath(entry, host, path) &&
        (entry.methods === undefined || entry.methods.has(method))
      ) {
        return entry.value;
      }
    }
    return undefined;
  }

  /**
   * For a request that matched no route: the first route matching its host and path, whatever the
   * method, with the Allow header listing what those routes accept; undefined when none does.
   */
  nearest(host: string, path: string): { value: T; allow: string } | undefined {
    let first: T | undefined;
    const allowed = new Set<string>();
    for (const entry of this.#entries) {
      if (!matchesHostAndPath(entry, host, path)) continue;
      first ??= entry.value;
      for (const method of entry.methods ?? ALL_METHODS) allowed.add(method);
    }
    if (first === undefined) return undefined;
    return { value: first, allow: ALL_METHODS.filter((m) => allowed.has(m)).join(', ') };
  }
}

/** The request's host, lowercase, without the port; '' when absent. */
export function hostOf(header: string | undefined): string {
  if (header === undefined) return '';
  const end = header.charCodeAt(0) === 91 /* [ */ ? header.indexOf(']') + 1 : header.indexOf(':');
  return (end > 0 ? header.slice(0, end) : header).toLowerCase();
}

/** A route's path prefix without its trailing slash ('' for `/`), the form matching and rewriting use. */
export function normalizePrefix(prefix: string): string {
  return prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
}

/**
 * Whether a path has a `.` or `..` segment, plain or percent-encoded. Such a path would match one
 * route here and name another resource upstream (`/public/../admin`), so the gateway refuses it.
 */
export function hasDotSegment(path: string): boolean {
  if (!path.includes('/.') && !path.includes('%2')) return false;
  for (const segment of path.split('/')) {
    const plain = segment.replaceAll(/%2e/gi, '.');
    if (plain === '.' || plain === '..') return true;
  }
  return false;
}

function compile<T>(spec: RouteSpec, value: T, index: number): Entry<T> {
  const pattern = spec.match.host?.toLowerCase();
  const wildcard = pattern?.startsWith('*.') === true;
  const prefix = normalizePrefix(spec.match.pathPrefix);
  const hostRank = pattern === undefined ? 2 : wildcard ? 1 : 0;
  return {
    value,
    host: wildcard ? undefined : pattern,
    hostSuffix: wildcard ? pattern!.slice(1) : undefined,
    prefix,
    methods: spec.match.methods ? new Set(spec.match.methods) : undefined,
    hostRank,
    index,
  };
}

function byRank<T>(a: Entry<T>, b: Entry<T>): number {
  return (
    a.hostRank - b.hostRank ||
    (b.hostSuffix?.length ?? 0) - (a.hostSuffix?.length ?? 0) ||
    b.prefix.length - a.prefix.length ||
    a.index - b.index
  );
}

function matchesHostAndPath<T>(entry: Entry<T>, host: string, path: string): boolean {
  if (entry.host !== undefined) {
    if (entry.host !== host) return false;
  } else if (entry.hostSuffix !== undefined) {
    if (host.length <= entry.hostSuffix.length || !host.endsWith(entry.hostSuffix)) return false;
  }
  const prefix = entry.prefix;
  return (
    prefix.length === 0 ||
    (path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === SLASH))
  );
}

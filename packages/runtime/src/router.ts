import { RuntimeError } from './errors.ts';

/** What a lookup found: a route, a path that exists for other methods only, or nothing. */
export type RouteLookup<T> =
  | { kind: 'found'; value: T; params: Record<string, string>; pattern: string }
  | { kind: 'method-not-allowed'; allowed: string[] }
  | { kind: 'not-found' };

interface DynamicRoute<T> {
  /** Literal segments, with `undefined` where a parameter goes. */
  segments: (string | undefined)[];
  methods: Map<string, { value: T; pattern: string; names: string[] }>;
}

const PARAM = /^:([A-Za-z_][A-Za-z0-9_]*)$/;
const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * Maps method and path to a route. Patterns match whole segments exactly; `:name` matches one
 * non-empty segment. Static paths win over patterns with parameters, which are tried in the
 * order they were added. HEAD falls back to GET.
 */
export class Router<T> {
  private readonly statics = new Map<string, Map<string, { value: T; pattern: string }>>();
  private readonly dynamics: DynamicRoute<T>[] = [];

  /** Adds a route. Throws on a malformed pattern or a method and pattern already taken. */
  add(method: string, pattern: string, value: T): void {
    if (!pattern.startsWith('/')) {
      throw new RuntimeError('FLOTILLA_ROUTE_INVALID', `Route "${pattern}" must start with "/"`);
    }
    const parts = pattern.split('/').slice(1);
    const names: string[] = [];
    const segments = parts.map((part) => {
      const param = PARAM.exec(part);
      if (param) {
        names.push(param[1]!);
        return undefined;
      }
      if (part.includes(':')) {
        throw new RuntimeError(
          'FLOTILLA_ROUTE_INVALID',
          `Route "${pattern}": a parameter takes a whole segment and a name of letters, digits and "_"`,
        );
      }
      return part;
    });
    if (new Set(names).size !== names.length) {
      throw new RuntimeError('FLOTILLA_ROUTE_INVALID', `Route "${pattern}" repeats a parameter name`);
    }
    const upper = method.toUpperCase();
    const taken = () =>
      new RuntimeError('FLOTILLA_ROUTE_INVALID', `Route ${upper} ${pattern} is already registered`);
    if (names.length === 0) {
      const methods = this.statics.get(pattern) ?? new Map();
      if (methods.has(upper)) throw taken();
      methods.set(upper, { value, pattern });
      this.statics.set(pattern, methods);
      return;
    }
    let route = this.dynamics.find((r) => sameShape(r.segments, segments));
    if (!route) {
      route = { segments, methods: new Map() };
      this.dynamics.push(route);
    }
    if (route.methods.has(upper)) throw taken();
    route.methods.set(upper, { value, pattern, names });
  }

  /** Finds the route for a request. `path` is the raw path, without the query string. */
  find(method: string, path: string): RouteLookup<T> {
    const allowed = new Set<string>();
    const statics = this.statics.get(path);
    if (statics) {
      const hit = pick(statics, method);
      if (hit) return { kind: 'found', value: hit.value, params: NO_PARAMS, pattern: hit.pattern };
      for (const m of statics.keys()) allowed.add(m);
    }
    if (this.dynamics.length > 0) {
      const parts = path.split('/').slice(1);
      for (const route of this.dynamics) {
        const values = matchSegments(route.segments, parts);
        if (!values) continue;
        const hit = pick(route.methods, method);
        if (hit) {
          const params: Record<string, string> = {};
          hit.names.forEach((name, i) => {
            params[name] = values[i]!;
          });
          return { kind: 'found', value: hit.value, params, pattern: hit.pattern };
        }
        for (const m of route.methods.keys()) allowed.add(m);
      }
    }
    if (allowed.size === 0) return { kind: 'not-found' };
    if (allowed.has('GET')) allowed.add('HEAD');
    return { kind: 'method-not-allowed', allowed: [...allowed].sort() };
  }
}

function pick<V>(methods: Map<string, V>, method: string): V | undefined {
  return methods.get(method) ?? (method === 'HEAD' ? methods.get('GET') : undefined);
}

function sameShape(a: (string | undefined)[], b: (string | undefined)[]): boolean {
  return a.length === b.length && a.every((segment, i) => segment === b[i]);
}

/** The decoded parameter values when `parts` fits the pattern, else undefined. */
function matchSegments(segments: (string | undefined)[], parts: string[]): string[] | undefined {
  if (segments.length !== parts.length) return undefined;
  const values: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const part = parts[i]!;
    const literal = segments[i];
    if (literal !== undefined) {
      if (literal !== part) return undefined;
      continue;
    }
    if (part === '') return undefined;
    try {
      values.push(decodeURIComponent(part));
    } catch {
      // A malformed escape cannot name anything this route knows.
      return undefined;
    }
  }
  return values;
}

import type { FaultSpec, StringMatch, TrafficRule } from '@flotilla/spec';
import type { MeshDispatchOptions } from '../types.ts';

/** What a rule can see of the request a call sends; a call's MeshDispatchOptions are one as they are. */
export interface RequestFacts {
  readonly method: string;
  /** Path as sent, query string included; rules see only the part before `?`. */
  readonly path: string;
  /** As undici takes them: an object, alternating names and values, pairs, or nothing. */
  readonly headers?: MeshDispatchOptions['headers'];
}

/** Labels of the calling workload: `app`, `version` and the labels of its version. */
export type SourceFacts = Readonly<Record<string, string>>;

/** One weighted destination of a rule: a version of the service. */
export interface Destination {
  readonly subset: string;
  readonly weight: number;
}

/** A string condition, compiled: the regex is built once per table, never per call. */
interface CompiledString {
  readonly kind: 'exact' | 'prefix' | 'regex';
  readonly value: string;
  readonly regex: RegExp | undefined;
}

/** A header condition; names are compared ignoring case. */
interface HeaderCondition {
  readonly name: string;
  readonly match: CompiledString;
}

/** The conditions of a rule; every given one must hold. Undefined fields are not checked. */
interface Conditions {
  readonly methods: readonly string[] | undefined;
  readonly path: CompiledString | undefined;
  readonly headers: readonly HeaderCondition[];
  readonly labelNames: readonly string[];
  readonly labelValues: readonly string[];
}

/** A traffic rule ready to be matched on every call. */
export interface CompiledRule {
  readonly name: string | undefined;
  /**
   * Where matching requests go: the rule's destinations that are versions of the service, in
   * order. Undefined when the rule has no `route` (the service's own weights decide). An explicit
   * route whose subsets are all unknown stays explicit and empty: it sends nowhere rather than
   * somewhere the rule did not say.
   */
  readonly route: readonly Destination[] | undefined;
  readonly mirror: TrafficRule['mirror'];
  readonly fault: FaultSpec | undefined;
  readonly timeoutMs: number | undefined;
  readonly retries: TrafficRule['retries'];
  /** Undefined: the rule matches every request. */
  readonly conditions: Conditions | undefined;
}

/**
 * Compiles a service's traffic rules once per routing table, so that matching a call builds no
 * regex and no closure. `versions` are the service's version names.
 */
export function compileRules(rules: readonly TrafficRule[], versions: readonly string[]): CompiledRule[] {
  return rules.map((rule) => ({
    name: rule.name,
    route: rule.route
      ?.filter((d) => versions.includes(d.subset))
      .map(({ subset, weight }) => ({ subset, weight })),
    mirror: rule.mirror,
    fault: rule.fault,
    timeoutMs: rule.timeoutMs,
    retries: rule.retries,
    conditions: compileConditions(rule.match),
  }));
}

/**
 * The first rule that matches a request from `source`, or undefined when none does. A rule
 * without conditions matches every request.
 */
export function matchRule(
  compiled: readonly CompiledRule[],
  request: RequestFacts,
  source: SourceFacts,
): CompiledRule | undefined {
  // Most services have no rules; their calls should pay nothing here.
  if (compiled.length === 0) return undefined;
  const query = request.path.indexOf('?');
  const path = query === -1 ? request.path : request.path.slice(0, query);
  for (const rule of compiled) {
    const conditions = rule.conditions;
    if (conditions === undefined || holds(conditions, request, path, source)) return rule;
  }
  return undefined;
}

function compileConditions(match: TrafficRule['match']): Conditions | undefined {
  if (match === undefined) return undefined;
  const labels = match.sourceLabels ?? {};
  return {
    methods: match.methods,
    path: match.path === undefined ? undefined : compileString(match.path),
    headers: Object.entries(match.headers ?? {}).map(([name, m]) => ({ name, match: compileString(m) })),
    labelNames: Object.keys(labels),
    labelValues: Object.values(labels),
  };
}

function compileString(match: StringMatch): CompiledString {
  if ('exact' in match) return { kind: 'exact', value: match.exact, regex: undefined };
  if ('prefix' in match) return { kind: 'prefix', value: match.prefix, regex: undefined };
  // Envoy's safe_regex matches the whole string; the group keeps `a|b` from anchoring one side only.
  return { kind: 'regex', value: match.regex, regex: new RegExp(`^(?:${match.regex})$`) };
}

function holds(conditions: Conditions, request: RequestFacts, path: string, source: SourceFacts): boolean {
  const { methods, labelNames, labelValues } = conditions;
  if (methods !== undefined && !includesMethod(methods, request.method)) return false;
  if (conditions.path !== undefined && !test(conditions.path, path)) return false;
  for (let i = 0; i < labelNames.length; i++) {
    if (source[labelNames[i]!] !== labelValues[i]) return false;
  }
  for (const header of conditions.headers) {
    if (!headerMatches(request.headers, header)) return false;
  }
  return true;
}

/** Methods are compared as mesh-call's retry check does: `get` is GET. */
function includesMethod(methods: readonly string[], method: string): boolean {
  for (const candidate of methods) {
    if (equalsIgnoringCase(candidate, method)) return true;
  }
  return false;
}

function test(match: CompiledString, value: string): boolean {
  switch (match.kind) {
    case 'exact':
      return value === match.value;
    case 'prefix':
      return value.startsWith(match.value);
    case 'regex':
      return match.regex!.test(value);
  }
}

type HeaderValue = string | number | readonly string[] | undefined | null;

/** A multi-valued header matches when any of its values does, whichever of its names' casings. */
function headerMatches(headers: RequestFacts['headers'], condition: HeaderCondition): boolean {
  if (headers == null) return false;
  const { name, match } = condition;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (equalsIgnoringCase(headers[i]!, name) && valueMatches(match, headers[i + 1])) return true;
    }
    return false;
  }
  if (isPairs(headers)) {
    for (const [key, value] of headers) {
      if (equalsIgnoringCase(key, name) && valueMatches(match, value)) return true;
    }
    return false;
  }
  const record = headers as Readonly<Record<string, HeaderValue>>;
  // for-in walks the keys without building an array; undici sends only own keys.
  for (const key in record) {
    if (equalsIgnoringCase(key, name) && Object.hasOwn(record, key) && valueMatches(match, record[key]))
      return true;
  }
  return false;
}

function isPairs(headers: object): headers is Iterable<[string, HeaderValue]> {
  return typeof (headers as Partial<Iterable<unknown>>)[Symbol.iterator] === 'function';
}

function valueMatches(match: CompiledString, value: HeaderValue): boolean {
  if (typeof value === 'string') return test(match, value);
  if (typeof value === 'number') return test(match, String(value));
  if (Array.isArray(value)) {
    for (const item of value) {
      if (test(match, String(item))) return true;
    }
  }
  return false;
}

/** ASCII case-insensitive equality (names and methods are ASCII), without allocating folded copies. */
function equalsIgnoringCase(a: string, b: string): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const lower = x | 0x20;
    if (lower !== (y | 0x20) || lower < 97 || lower > 122) return false;
  }
  return true;
}

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { checkMesh } from './check-mesh.ts';
import { DEFAULTS } from './defaults.ts';
import { SpecError, type SpecIssue } from './errors.ts';
import { type ParsedSystemSpec, type ServiceSpecParsed, systemSchema } from './schema.ts';
import { closest } from './suggest.ts';

/** A version of a service with every default resolved. */
export interface VersionSpec {
  weight: number;
  replicas: number;
  /** Absolute path of the file the instances run. */
  entry: string;
  labels: Record<string, string>;
  env: Record<string, string>;
}

/** A service with its directory resolved and every version complete. */
export interface ServiceSpec extends Omit<ServiceSpecParsed, 'versions'> {
  /** Absolute directory of the service's source. */
  dir: string;
  versions: Record<string, VersionSpec>;
}

/** A validated system spec: defaults filled, paths absolute, frozen. Nothing writes it. */
export interface SystemSpec extends Omit<ParsedSystemSpec, 'services'> {
  services: Record<string, ServiceSpec>;
  /** The spec file, absolute (or `<inline>`). */
  file: string;
  /** Directory the spec's relative paths are resolved against. */
  dir: string;
  /** Where state lives: `.flotilla/` beside the spec. */
  stateDir: string;
}

/**
 * Names the platform uses for its own parts. `bus` is among them because the PostgreSQL bus gets a
 * role and a database named as a service's would be (`flotilla_<system>_bus`).
 */
const RESERVED_SERVICES = new Set(['gateway', 'control-plane', 'postgres', 'bus']);

/** Reads, validates and resolves a spec file. Throws SpecError listing every problem. */
export function loadSpec(file: string): SystemSpec {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(cause);
    throw new SpecError([{ path: '', message: `${reason}: ${path}` }], path, { cause });
  }
  return parseSpec(text, { file: path, dir: dirname(path), checkFiles: true });
}

/** Validates spec text. `checkFiles` also checks that each service's directory and entry file exist. */
export function parseSpec(
  text: string,
  options: { file?: string; dir: string; checkFiles?: boolean },
): SystemSpec {
  const file = options.file ?? '<inline>';
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new SpecError(
      doc.errors.map((e) => ({
        path: '',
        message: `YAML: ${e.message.split('\n')[0]!.replace(/:$/, '')}`,
      })),
      file,
    );
  }
  const data: unknown = doc.toJS();
  const result = systemSchema.safeParse(data ?? {}, { error: describeIssue });
  if (!result.success) {
    throw new SpecError(
      result.error.issues.map((issue) => toSpecIssue(issue)),
      file,
    );
  }
  const issues: SpecIssue[] = [];
  const spec = resolveSpec(result.data, options.dir, file, issues, options.checkFiles ?? false);
  if (issues.length > 0) throw new SpecError(issues, file);
  return deepFreeze(spec);
}

function resolveSpec(
  parsed: ParsedSystemSpec,
  dir: string,
  file: string,
  issues: SpecIssue[],
  checkFiles: boolean,
): SystemSpec {
  const services: Record<string, ServiceSpec> = {};
  for (const [name, svc] of Object.entries(parsed.services)) {
    const at = `services.${name}`;
    if (RESERVED_SERVICES.has(name))
      issues.push({ path: at, message: `"${name}" is reserved by Flotilla; pick another name` });
    const serviceDir = resolve(dir, svc.path);
    if (checkFiles && !isDirectory(serviceDir)) {
      issues.push({ path: `${at}.path`, message: `directory not found: ${serviceDir}` });
    }
    const versionNames = Object.keys(svc.versions);
    if (versionNames.length === 0)
      issues.push({ path: `${at}.versions`, message: 'expected at least one version' });
    const weighted = versionNames.filter((v) => svc.versions[v]!.weight !== undefined);
    if (weighted.length > 0 && weighted.length < versionNames.length) {
      issues.push({
        path: `${at}.versions`,
        message: 'set a weight on every version, or on none to split evenly',
      });
    }
    const total = weighted.reduce((sum, v) => sum + svc.versions[v]!.weight!, 0);
    if (weighted.length === versionNames.length && versionNames.length > 0 && total !== 100) {
      issues.push({
        path: `${at}.versions`,
        message: `weights must add up to 100 (they add up to ${total})`,
      });
    }
    const even = evenSplit(versionNames.length);
    const versions: Record<string, VersionSpec> = {};
    versionNames.forEach((v, i) => {
      const spec = svc.versions[v]!;
      const entry = resolve(serviceDir, spec.entry ?? svc.entry);
      if (checkFiles && isDirectory(serviceDir) && !existsSync(entry)) {
        const key = spec.entry ? `${at}.versions.${v}.entry` : `${at}.entry`;
        issues.push({ path: key, message: `file not found: ${entry}` });
      }
      versions[v] = {
        weight: spec.weight ?? even[i]!,
        replicas: spec.replicas ?? svc.replicas,
        entry,
        labels: { ...spec.labels, version: v },
        env: spec.env,
      };
    });
    const { liveness, readiness } = svc.probes;
    for (const [kind, probe] of [
      ['liveness', liveness],
      ['readiness', readiness],
    ] as const) {
      if (probe.timeoutMs > probe.periodMs) {
        issues.push({
          path: `${at}.probes.${kind}.timeoutMs`,
          message: `must be <= periodMs (${probe.periodMs})`,
        });
      }
    }
    if (svc.events && !svc.database) {
      issues.push({
        path: `${at}.events`,
        message: "the outbox and inbox live in the service's database: set database: true",
      });
    }
    const secretNames = svc.secrets.map((s) => s.name);
    const repeated = secretNames.find((n, i) => secretNames.indexOf(n) !== i);
    if (repeated !== undefined)
      issues.push({ path: `${at}.secrets`, message: `${repeated} is listed twice` });
    services[name] = { ...svc, dir: serviceDir, versions };
  }

  const names = Object.keys(parsed.services);
  parsed.gateway.routes.forEach((route, i) => {
    if (!(route.service in parsed.services)) {
      const hint = closest(route.service, names);
      issues.push({
        path: `gateway.routes[${i}].service`,
        message: `unknown service "${route.service}"${hint ? `, did you mean "${hint}"?` : ` (services: ${names.join(', ')})`}`,
      });
    }
    if (route.stripPrefix && route.rewritePrefix !== undefined) {
      issues.push({ path: `gateway.routes[${i}]`, message: 'set stripPrefix or rewritePrefix, not both' });
    }
  });

  checkMesh(parsed, issues);

  const { bus } = parsed.infrastructure;
  if (bus.kind === 'postgres' && bus.url !== undefined) {
    issues.push({
      path: 'infrastructure.bus.url',
      message: "the postgres bus lives on the system's PostgreSQL; remove url, or set kind: rabbitmq",
    });
  }
  const infrastructure = {
    ...parsed.infrastructure,
    bus: { kind: bus.kind, url: bus.kind === 'rabbitmq' ? (bus.url ?? DEFAULTS.bus.rabbitmqUrl) : undefined },
  };
  return { ...parsed, infrastructure, services, file, dir, stateDir: join(dir, '.flotilla') };
}

/** Integer percentages that add up to 100, the remainder going to the first versions. */
function evenSplit(n: number): number[] {
  if (n === 0) return [];
  const base = Math.floor(100 / n);
  return Array.from({ length: n }, (_, i) => base + (i < 100 - base * n ? 1 : 0));
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

type Issue = z.core.$ZodIssue;

function toSpecIssue(issue: Issue): SpecIssue {
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(systemSchema, issue.path);
    return {
      path: formatPath(issue.path),
      message: issue.keys
        .map((key) => {
          const hint = closest(key, known);
          return `unknown key "${key}"${hint ? `, did you mean "${hint}"?` : known.length ? ` (expected one of: ${known.join(', ')})` : ''}`;
        })
        .join('; '),
    };
  }
  return { path: formatPath(issue.path), message: issue.message };
}

/** Messages for zod's built-in checks, worded as "expected ..." like our own. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? `required (expected ${issue.expected})`
        : `expected ${issue.expected}, got ${typeOf(issue.input)}`;
    case 'too_small':
      return `expected ${issue.origin === 'array' ? 'at least' : '>='} ${String(issue.minimum)}${issue.origin === 'array' ? ' items' : ''}`;
    case 'too_big':
      return `expected ${issue.origin === 'array' ? 'at most' : '<='} ${String(issue.maximum)}${issue.origin === 'array' ? ' items' : ''}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      return 'expected false or a plugin configuration';
    case 'invalid_key':
      // The key's own check says what a key must be (a lowercase header name, an environment
      // variable name); zod's wrapper would only say "Invalid key in record".
      return issue.issues[0]?.message;
    default:
      return undefined;
  }
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

interface SchemaDef {
  type: string;
  shape?: Record<string, { _zod: { def: SchemaDef } }>;
  innerType?: { _zod: { def: SchemaDef } };
  element?: { _zod: { def: SchemaDef } };
  valueType?: { _zod: { def: SchemaDef } };
  options?: { _zod: { def: SchemaDef } }[];
  in?: { _zod: { def: SchemaDef } };
}

/** The keys an object schema accepts at `path`, for "did you mean" hints. */
function knownKeysAt(schema: { _zod: { def: unknown } }, path: readonly PropertyKey[]): string[] {
  let defs: SchemaDef[] = [schema._zod.def as SchemaDef];
  const unwrap = (d: SchemaDef): SchemaDef[] => {
    if (d.innerType) return unwrap(d.innerType._zod.def);
    if (d.type === 'pipe' && d.in) return unwrap(d.in._zod.def);
    if (d.type === 'union' && d.options) return d.options.flatMap((o) => unwrap(o._zod.def));
    return [d];
  };
  for (const key of path) {
    defs = defs.flatMap(unwrap).flatMap((d): SchemaDef[] => {
      if (d.type === 'object' && d.shape && typeof key === 'string' && d.shape[key])
        return [d.shape[key]._zod.def];
      if (d.type === 'record' && d.valueType) return [d.valueType._zod.def];
      if (d.type === 'array' && d.element) return [d.element._zod.def];
      return [];
    });
  }
  return [
    ...new Set(
      defs.flatMap(unwrap).flatMap((d) => (d.type === 'object' && d.shape ? Object.keys(d.shape) : [])),
    ),
  ];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

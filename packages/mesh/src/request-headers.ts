import type { MeshDispatchOptions } from './types.ts';

type Headers = MeshDispatchOptions['headers'];

/** Header values as undici takes them in `[name, value]` pairs (a Map, a fetch Headers). */
type Pairs = Iterable<readonly [string, string | readonly string[] | undefined]>;

/**
 * The value of a request header in any of the shapes undici accepts (an object with names in any
 * case, a flat array of names and values, `[name, value]` pairs, or nothing); the first value when
 * repeated. `name` is lowercase.
 */
export function headerOf(headers: Headers, name: string): string | undefined {
  if (headers == null || typeof headers !== 'object') return undefined;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() === name) return String(headers[i + 1]);
    }
    return undefined;
  }
  if (isIterable(headers)) {
    for (const [key, value] of headers as Pairs) {
      if (value !== undefined && key.toLowerCase() === name)
        return typeof value === 'string' ? value : value[0];
    }
    return undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  const direct = record[name];
  if (direct !== undefined) return Array.isArray(direct) ? direct[0] : direct;
  for (const key in record) {
    if (key.length === name.length && key.toLowerCase() === name) {
      const value = record[key];
      return Array.isArray(value) ? value[0] : value;
    }
  }
  return undefined;
}

/**
 * The headers of an attempt: the caller's, with `set` replacing any header of the same name. The
 * caller's object is never changed (a retry or a mirror sends it again). Pairs become a flat
 * array, the shape undici also takes, so that what is set is never lost.
 */
export function withHeaders(headers: Headers, set: Readonly<Record<string, string>>): Headers {
  if (headers == null || typeof headers !== 'object') return { ...set };
  if (Array.isArray(headers)) {
    const out: string[] = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = String(headers[i]);
      if (!Object.hasOwn(set, name.toLowerCase())) out.push(name, String(headers[i + 1]));
    }
    for (const name in set) out.push(name, set[name]!);
    return out;
  }
  if (isIterable(headers)) {
    const out: string[] = [];
    for (const [name, value] of headers as Pairs) {
      if (value === undefined || Object.hasOwn(set, name.toLowerCase())) continue;
      if (typeof value === 'string') out.push(name, value);
      else for (const item of value) out.push(name, item);
    }
    for (const name in set) out.push(name, set[name]!);
    return out;
  }
  const out: Record<string, string | string[] | undefined> = {};
  const record = headers as Record<string, string | string[] | undefined>;
  for (const key in record) {
    if (!Object.hasOwn(set, key.toLowerCase())) out[key] = record[key];
  }
  for (const name in set) out[name] = set[name];
  return out;
}

function isIterable(value: object): boolean {
  return typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function';
}

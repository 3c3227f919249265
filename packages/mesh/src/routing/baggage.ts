/**
 * The W3C `baggage` header (https://www.w3.org/TR/baggage/), read and written without parsing it
 * into a structure: the version pin is one member among whatever the caller's tracing put there,
 * and every call forwards the rest untouched.
 *
 *   baggage-string = list-member *( OWS "," OWS list-member )
 *   list-member    = key OWS "=" OWS value *( OWS ";" OWS property )
 */

/**
 * The spec requires propagating at least this much and lets a platform drop what is beyond it.
 * Header strings from Node are latin1, one character per byte, so length counts bytes.
 */
export const MAX_BAGGAGE_BYTES = 8192;

const COMMA = 0x2c;
const EQUALS = 0x3d;
const SEMICOLON = 0x3b;
const PERCENT = 0x25;
/** RFC 9110 token characters: what a key may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The percent-decoded value of the first member named `key`, without its properties. Undefined
 * when the header is absent, over MAX_BAGGAGE_BYTES, or has no such member.
 */
export function baggageGet(header: string | undefined, key: string): string | undefined {
  if (header === undefined || header.length > MAX_BAGGAGE_BYTES) return undefined;
  const length = header.length;
  let start = 0;
  while (start < length) {
    const end = memberEnd(header, start);
    const equals = indexOfIn(header, EQUALS, start, end);
    if (equals !== -1 && keyIs(header, start, equals, key)) {
      const semicolon = indexOfIn(header, SEMICOLON, equals + 1, end);
      const valueEnd = trimEnd(header, equals + 1, semicolon === -1 ? end : semicolon);
      return percentDecode(header.slice(trimStart(header, equals + 1, valueEnd), valueEnd));
    }
    start = end + 1;
  }
  return undefined;
}

/**
 * The header with the member `key=value`: it replaces the first member named `key` in place (its
 * properties go with it) and later duplicates are dropped, so the value is unambiguous; without
 * one it is appended. Other members are kept byte for byte, except that when the result would be
 * over MAX_BAGGAGE_BYTES whole members are dropped from the end until it fits (the spec allows
 * dropping members, never truncating one), and `key` is never the one dropped.
 *
 * @param key a token (RFC 9110); a TypeError otherwise
 * @param value percent-encoded where the spec requires it
 */
export function baggageSet(header: string | undefined, key: string, value: string): string {
  if (!TOKEN.test(key)) throw new TypeError(`baggage key must be a token, got ${JSON.stringify(key)}`);
  const member = `${key}=${percentEncode(value)}`;
  let out = '';
  let kept = 0;
  let replaced = false;
  const length = header?.length ?? 0;
  let start = 0;
  while (header !== undefined && start < length) {
    const end = memberEnd(header, start);
    const equals = indexOfIn(header, EQUALS, start, end);
    if (equals !== -1 && keyIs(header, start, equals, key)) {
      if (replaced) {
        // A duplicate: drop it with the comma before it.
        out += header.slice(kept, start - 1);
      } else {
        out += header.slice(kept, trimStart(header, start, end)) + member;
        out += header.slice(trimEnd(header, start, end), end);
        replaced = true;
      }
      kept = end;
    }
    start = end + 1;
  }
  if (header !== undefined) out += header.slice(kept);
  if (!replaced) {
    const rest = withoutTrailingSeparators(out);
    out = rest === '' ? member : `${rest},${member}`;
  }
  return out.length > MAX_BAGGAGE_BYTES ? dropToFit(out, key) : out;
}

/** Index of the comma that ends the member starting at `start`, or the header's length. */
function memberEnd(header: string, start: number): number {
  const comma = header.indexOf(',', start);
  return comma === -1 ? header.length : comma;
}

/** indexOf limited to [from, to), so that a missing character does not scan the whole header. */
function indexOfIn(header: string, code: number, from: number, to: number): number {
  for (let i = from; i < to; i++) if (header.charCodeAt(i) === code) return i;
  return -1;
}

/** Whether the key of the member in [start, equals), spaces trimmed, is `key`. */
function keyIs(header: string, start: number, equals: number, key: string): boolean {
  const keyStart = trimStart(header, start, equals);
  const keyEnd = trimEnd(header, keyStart, equals);
  return keyEnd - keyStart === key.length && header.startsWith(key, keyStart);
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

function trimStart(header: string, from: number, to: number): number {
  while (from < to && isOws(header.charCodeAt(from))) from++;
  return from;
}

function trimEnd(header: string, from: number, to: number): number {
  while (to > from && isOws(header.charCodeAt(to - 1))) to--;
  return to;
}

function withoutTrailingSeparators(header: string): string {
  let end = header.length;
  while (end > 0) {
    const code = header.charCodeAt(end - 1);
    if (code !== COMMA && !isOws(code)) break;
    end--;
  }
  return header.slice(0, end);
}

/** Drops whole members other than `key` from the end until the header fits. Rare: no need to be quick. */
function dropToFit(header: string, key: string): string {
  const members = header.split(',');
  let size = header.length;
  for (let i = members.length - 1; i >= 0 && size > MAX_BAGGAGE_BYTES; i--) {
    const candidate = members[i]!;
    const equals = candidate.indexOf('=');
    if (equals !== -1 && keyIs(candidate, 0, equals, key)) continue;
    // The member and one comma.
    size -= candidate.length + 1;
    members.splice(i, 1);
  }
  return members.join(',').replace(/^[ \t]+/, '');
}

/**
 * baggage-octet: printable US-ASCII except space, `"`, `,`, `;` and `\`. `%` is one, but must be
 * encoded, as it starts an escape.
 */
function isPlainOctet(code: number): boolean {
  return (
    code >= 0x21 && code <= 0x7e && code !== 0x22 && code !== COMMA && code !== SEMICOLON && code !== 0x5c
  );
}

/** Leaves a plain value (`v2`) as it is; otherwise encodes what the spec requires, as UTF-8. */
function percentEncode(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === PERCENT || !isPlainOctet(code)) {
      // encodeURIComponent encodes a superset of what must be, which the spec allows; a lone
      // surrogate would make it throw, so it becomes U+FFFD first.
      return encodeURIComponent(value.toWellFormed());
    }
  }
  return value;
}

const UTF8 = new TextDecoder();

/**
 * Percent-decodes as UTF-8. Sequences that are not UTF-8 become U+FFFD, as the spec requires, and
 * a `%` that starts no escape stays a `%`.
 */
function percentDecode(value: string): string {
  if (value.indexOf('%') === -1) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return lenientDecode(value);
  }
}

function lenientDecode(value: string): string {
  let out = '';
  let i = 0;
  while (i < value.length) {
    if (!isEscape(value, i)) {
      out += value[i];
      i++;
      continue;
    }
    const bytes: number[] = [];
    while (isEscape(value, i)) {
      bytes.push(Number.parseInt(value.slice(i + 1, i + 3), 16));
      i += 3;
    }
    out += UTF8.decode(Uint8Array.from(bytes));
  }
  return out;
}

function isEscape(value: string, i: number): boolean {
  return value.charCodeAt(i) === PERCENT && isHex(value.charCodeAt(i + 1)) && isHex(value.charCodeAt(i + 2));
}

function isHex(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x66);
}

import type { IncomingMessage } from 'node:http';

const COLON = 58;
const OPEN_BRACKET = 91;

/** ASCII bytes of an RFC 3986 reg-name: unreserved, percent-encoded and sub-delims. */
const REG_NAME = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=") {
  REG_NAME[c.charCodeAt(0)] = 1;
}

/**
 * Why a request that Node's parser let through must not be routed, or undefined when it may be.
 * Node (llhttp) already refuses a duplicate or conflicting Content-Length or Transfer-Encoding and
 * malformed header lines; it accepts these, which RFC 9112 says a server answers with 400:
 * - a request line without an HTTP version (`GET /path`, HTTP/0.9), or a version other than 1.x;
 * - more than one Host header: Node keeps the first, a service behind may read another;
 * - an HTTP/1.1 request without Host (checked here rather than by Node, for the house's error body);
 * - a Host that is not `host[:port]`: a userinfo (`user@host`), whitespace, a path.
 *
 * It runs on every request, so it walks the raw headers once and allocates nothing.
 */
export function malformedRequest(req: IncomingMessage): string | undefined {
  if (req.httpVersionMajor !== 1) return 'The request line must end with HTTP/1.1 or HTTP/1.0.';
  const raw = req.rawHeaders;
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (!isHostName(raw[i]!)) continue;
    if (host !== undefined) return 'A request carries one Host header, not several.';
    host = raw[i + 1]!;
  }
  if (host === undefined) {
    return req.httpVersionMinor === 1 ? 'An HTTP/1.1 request needs a Host header.' : undefined;
  }
  return isHostValue(host)
    ? undefined
    : 'The Host header must be a host name or address and an optional port.';
}

/** `host` in any case, compared byte by byte so that other header names cost no lowercase copy. */
function isHostName(name: string): boolean {
  return (
    name.length === 4 &&
    (name.charCodeAt(0) | 0x20) === 104 /* h */ &&
    (name.charCodeAt(1) | 0x20) === 111 /* o */ &&
    (name.charCodeAt(2) | 0x20) === 115 /* s */ &&
    (name.charCodeAt(3) | 0x20) === 116 /* t */
  );
}

/** `uri-host [ ":" port ]` of RFC 9110 (an empty host is allowed, as the RFC allows it). */
function isHostValue(value: string): boolean {
  let i = 0;
  if (value.charCodeAt(0) === OPEN_BRACKET) {
    const close = value.indexOf(']');
    if (close === -1) return false;
    for (i = 1; i < close; i++) {
      const c = value.charCodeAt(i);
      if (c !== COLON && (c > 127 || REG_NAME[c] !== 1)) return false;
    }
    i = close + 1;
  } else {
    for (; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c === COLON) break;
      if (c > 127 || REG_NAME[c] !== 1) return false;
    }
  }
  if (i === value.length) return true;
  if (value.charCodeAt(i) !== COLON) return false;
  for (i++; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

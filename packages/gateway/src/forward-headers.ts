import { HEADERS } from '@flotilla/spec';

/** Headers as Node and undici parse them: lowercase names, repeated ones as arrays. */
type ParsedHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1), so no proxy forwards them. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

/**
 * Client headers never forwarded upstream: hop-by-hop ones; `host` and `expect`, which the upstream
 * connection sets for itself; the identity headers, which only a verified token may set; and the
 * forwarding headers, which the gateway writes itself because as the edge it trusts no one's.
 */
const NOT_FORWARDED = new Set([
  ...HOP_BY_HOP,
  'host',
  'expect',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  HEADERS.subject,
  HEADERS.roles,
  // Only the mesh marks a mirrored copy; a client's mark would make a service skip a real request.
  HEADERS.mirror,
]);

const NOT_RETURNED = new Set(HOP_BY_HOP);

/** Headers sent upstream: a copy of the client's without the ones above, plus the forwarding headers. */
export function upstreamHeaders(
  incoming: ParsedHeaders,
  clientIp: string,
  proto: 'http' | 'https',
): Record<string, string | string[]> {
  const out = copyWithout(incoming, NOT_FORWARDED);
  out['x-forwarded-for'] = clientIp;
  out['x-forwarded-proto'] = proto;
  if (incoming.host !== undefined) out['x-forwarded-host'] = incoming.host;
  return out;
}

/** Headers of an upstream answer as the client gets them: hop-by-hop ones removed. */
export function downstreamHeaders(incoming: ParsedHeaders): Record<string, string | string[]> {
  return copyWithout(incoming, NOT_RETURNED);
}

function copyWithout(
  incoming: ParsedHeaders,
  dropped: ReadonlySet<string>,
): Record<string, string | string[]> {
  const named = connectionOptions(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || dropped.has(name) || name.startsWith('proxy-') || named?.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Header names listed in Connection, which are hop-by-hop too; undefined for the usual bare values. */
function connectionOptions(connection: string | string[] | undefined): Set<string> | undefined {
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return undefined;
  const names = new Set<string>();
  for (const token of String(connection).split(',')) names.add(token.trim().toLowerCase());
  return names;
}

import { HEADERS, type HeadersConfig } from '@flotilla/spec';
import type { PluginFactory } from '../../plugin.ts';
import { PluginConfigError } from '../plugin-config-error.ts';

/** RFC 9110 token characters: what a header name may contain. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Visible ASCII, space and tab: a value that cannot split or end a header line. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
/** Only the gateway's token check may assert who the caller is; services trust these headers. */
const IDENTITY = new Set<string>([HEADERS.subject, HEADERS.roles]);
/** Headers that frame the message or the connection; editing them would desynchronise client, gateway and service. */
const FRAMING = new Set([
  'connection',
  'content-length',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** One direction's edits, checked and lowercased once. */
interface Edits {
  set: [string, string][];
  remove: Set<string>;
  /** Every name that is removed or set: what to clear, in any case, before setting. */
  touched: Set<string>;
}

/**
 * Sets and removes headers on the way to the service (`request`) and on the way back to the
 * client (`response`). Removal happens first, so a header can be replaced by removing and setting it.
 */
export const headers: PluginFactory<HeadersConfig> = (config) => {
  const request = checkEdits('request', config.request);
  const response = checkEdits('response', config.response);
  return {
    name: 'headers',
    onRequest(ctx) {
      for (const name of request.remove) delete ctx.upstreamHeaders[name];
      for (const [name, value] of request.set) ctx.upstreamHeaders[name] = value;
    },
    onResponse(_ctx, _statusCode, out) {
      // Header names from the service may arrive in any case.
      for (const name of Object.keys(out)) {
        if (response.touched.has(name.toLowerCase())) delete out[name];
      }
      for (const [name, value] of response.set) out[name] = value;
    },
  };
};

/** Validates one direction's edits at start-up, so a bad name or value fails there and not per request. */
function checkEdits(direction: 'request' | 'response', edits: HeadersConfig['request']): Edits {
  const set = Object.entries(edits?.set ?? {}).map(([name, value]): [string, string] => {
    const lower = checkName(direction, 'set', name);
    if (IDENTITY.has(lower)) {
      throw new PluginConfigError(
        'headers',
        `${direction}.set cannot set ${lower}: identity headers come only from a verified token (use the jwt plugin)`,
      );
    }
    if (!HEADER_VALUE.test(value)) {
      throw new PluginConfigError(
        'headers',
        `${direction}.set.${name} has a control character or non-ASCII text; use visible ASCII only`,
      );
    }
    return [lower, value];
  });
  const remove = new Set((edits?.remove ?? []).map((name) => checkName(direction, 'remove', name)));
  return { set, remove, touched: new Set([...remove, ...set.map(([name]) => name)]) };
}

function checkName(direction: string, action: 'set' | 'remove', name: string): string {
  if (!HEADER_NAME.test(name)) {
    throw new PluginConfigError('headers', `${direction}.${action}: "${name}" is not a valid header name`);
  }
  const lower = name.toLowerCase();
  if (FRAMING.has(lower)) {
    throw new PluginConfigError(
      'headers',
      `${direction}.${action} cannot change ${lower}: the gateway manages message framing itself`,
    );
  }
  return lower;
}

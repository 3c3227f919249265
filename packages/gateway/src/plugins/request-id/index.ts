import { randomUUID } from 'node:crypto';
import { HEADERS } from '@flotilla/spec';
import type { PluginFactory } from '../../plugin.ts';

/** The request-id plugin takes no options. */
export type RequestIdConfig = Record<string, never>;

/** What a client-sent id may look like; anything else could smuggle text into logs and upstream headers. */
const SANE_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Gives every request an id: the client's `x-request-id` when it is sane, a new UUID otherwise.
 * The id goes on the context, upstream and back to the client.
 */
export const requestId: PluginFactory<RequestIdConfig> = () => ({
  name: 'requestId',
  onRequest(ctx) {
    const sent = ctx.req.headers[HEADERS.requestId];
    const id = typeof sent === 'string' && SANE_ID.test(sent) ? sent : randomUUID();
    ctx.requestId = id;
    ctx.upstreamHeaders[HEADERS.requestId] = id;
    ctx.responseHeaders[HEADERS.requestId] = id;
  },
});

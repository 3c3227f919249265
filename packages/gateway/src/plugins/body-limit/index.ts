import { GatewayError } from '../../errors.ts';
import type { PluginFactory } from '../../plugin.ts';

/** The largest request body a route accepts. */
export interface BodyLimitConfig {
  maxBytes: number;
}

/**
 * Refuses a request whose declared Content-Length is over the limit before any byte of the body
 * is read, and hands the limit to the core, which cuts off a chunked body once it grows past it.
 */
export const bodyLimit: PluginFactory<BodyLimitConfig> = ({ maxBytes }) => ({
  name: 'bodyLimit',
  onRequest(ctx) {
    const declared = ctx.req.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBytes) {
      throw new GatewayError('BODY_TOO_LARGE', {
        message: `The request body is larger than this route accepts (${maxBytes} bytes).`,
      });
    }
    ctx.maxBodyBytes = ctx.maxBodyBytes === undefined ? maxBytes : Math.min(ctx.maxBodyBytes, maxBytes);
  },
});

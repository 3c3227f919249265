import { HttpError, reply, type Service } from '@flotilla/runtime';
import { requireRole } from '../caller.ts';
import type { SigningKeys } from '../signing-keys.ts';

/**
 * POST /api/identity/v1/keys/:kid/revoke: admins take a key whose private half may have leaked
 * out of the JWKS at once (rotating first when it is the active key). Every token it signed stops
 * verifying at the gateway within its JWKS refetch interval, whatever the token's `exp`.
 */
export function revokeKeyRoute(service: Service, deps: { keys: SigningKeys }): void {
  service.post('/api/identity/v1/keys/:kid/revoke', async (ctx) => {
    const subject = requireRole(ctx, 'admin');
    const kid = ctx.params.kid ?? '';
    const revoked = await deps.keys.revoke(kid);
    if (revoked === undefined) {
      throw new HttpError(
        404,
        'KEY_NOT_FOUND',
        `There is no signing key ${kid}; GET /.well-known/jwks.json lists the keys in use.`,
      );
    }
    ctx.log.warn({ revoked_kid: kid, kid: revoked.kid, by: subject }, 'signing key revoked');
    return reply(200, { kid: revoked.kid, revoked_kid: revoked.revokedKid });
  });
}

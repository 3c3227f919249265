import { reply, type Service } from '@flotilla/runtime';
import { requireRole } from '../caller.ts';
import type { SigningKeys } from '../signing-keys.ts';

/** POST /api/identity/v1/keys/rotate: admins retire the signing key and start signing with a new one. */
export function rotateKeysRoute(service: Service, deps: { keys: SigningKeys }): void {
  service.post('/api/identity/v1/keys/rotate', async (ctx) => {
    const subject = requireRole(ctx, 'admin');
    const { kid, retiredKid } = await deps.keys.rotate();
    ctx.log.info({ kid, retired_kid: retiredKid, by: subject }, 'signing key rotated');
    return reply(201, { kid, retired_kid: retiredKid ?? null });
  });
}

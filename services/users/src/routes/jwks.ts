import { reply, type Service } from '@flotilla/runtime';
import { USERS_DEFAULTS } from '../defaults.ts';
import type { SigningKeys } from '../signing-keys.ts';

/** GET /.well-known/jwks.json: the public keys that verify the service's tokens. */
export function jwksRoute(service: Service, deps: { keys: SigningKeys }): void {
  service.get('/.well-known/jwks.json', async () =>
    reply(
      200,
      { keys: await deps.keys.publicJwks() },
      { 'cache-control': `public, max-age=${USERS_DEFAULTS.jwksMaxAgeS}` },
    ),
  );
}

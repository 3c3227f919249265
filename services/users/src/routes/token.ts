import { HttpError, reply, type Service } from '@flotilla/runtime';
import { z } from 'zod';
import type { Credentials } from '../credentials.ts';
import { USERS_DEFAULTS } from '../defaults.ts';
import type { SigningKeys } from '../signing-keys.ts';
import { issueAccessToken, type TokenOptions } from '../tokens.ts';

const body = z.object({
  email: z.string().trim().toLowerCase().min(1, 'Enter your email address.').max(320),
  password: z.string().min(1, 'Enter your password.').max(USERS_DEFAULTS.loginPasswordMaxLength),
});

/** POST /api/identity/v1/token: exchanges an email and password for a signed access token. */
export function tokenRoute(
  service: Service,
  deps: { credentials: Credentials; keys: SigningKeys; token: TokenOptions },
): void {
  service.post('/api/identity/v1/token', { body }, async (ctx) => {
    const user = await deps.credentials.check(ctx.body.email, ctx.body.password);
    // One answer for an unknown email and a wrong password, so the route does not tell which emails exist.
    if (!user) throw new HttpError(401, 'INVALID_CREDENTIALS', 'The email address or the password is wrong.');
    // Tokens are credentials: no cache may keep them (RFC 6749 section 5.1).
    return reply(200, await issueAccessToken(deps.keys, user, deps.token), {
      'cache-control': 'no-store',
    });
  });
}

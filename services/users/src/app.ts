import { createService, type Service, type ServiceOptions } from '@flotilla/runtime';
import { ensureAdminAccount } from './admin-account.ts';
import { credentials as createCredentials } from './credentials.ts';
import { USERS_DEFAULTS } from './defaults.ts';
import { jwksRoute } from './routes/jwks.ts';
import { meRoute } from './routes/me.ts';
import { registerRoute } from './routes/register.ts';
import { revokeKeyRoute } from './routes/revoke-key.ts';
import { rotateKeysRoute } from './routes/rotate-keys.ts';
import { tokenRoute } from './routes/token.ts';
import { readSettings } from './settings.ts';
import { signingKeys } from './signing-keys.ts';

/** Where the users service reads its settings and writes its logs. */
export interface UsersServiceOptions {
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** @default stdout */
  logDestination?: ServiceOptions['logDestination'];
}

/**
 * The users service, built but not started: accounts, password login, signed access tokens and
 * their JWKS. Its start() also creates the first signing key and the admin account when missing,
 * and turns ready only after both exist.
 */
export function buildUsersService(options: UsersServiceOptions = {}): Service {
  const env = options.env ?? process.env;
  const settings = readSettings(env);
  const service = createService({
    name: 'users',
    database: { migrationsDir: new URL('../migrations', import.meta.url) },
    events: {},
    env,
    logDestination: options.logDestination,
  });
  const keys = signingKeys(service, {
    retentionS: settings.tokenTtlS + settings.keyRetentionMarginS,
    cacheMs: USERS_DEFAULTS.activeKeyCacheMs,
    signingLagMs: USERS_DEFAULTS.activeKeyCacheMs + USERS_DEFAULTS.signingLagMarginMs,
    log: service.log,
  });
  const credentials = createCredentials(service.db);
  const token = { issuer: settings.tokenIssuer, audience: settings.tokenAudience, ttlS: settings.tokenTtlS };

  registerRoute(service);
  tokenRoute(service, { credentials, keys, token });
  meRoute(service);
  jwksRoute(service, { keys });
  rotateKeysRoute(service, { keys });
  revokeKeyRoute(service, { keys });

  // The runtime's start() applies the migrations; the tables exist only after it. Until the key
  // and the admin account exist too, the instance stays unready, so the gateway sends it nothing
  // (and nobody can register the admin's email first).
  const start = service.start;
  service.start = async () => {
    service.setReady(false);
    await start();
    try {
      await Promise.all([
        keys.ensure(),
        ensureAdminAccount(
          service.db,
          { email: settings.adminEmail, password: settings.adminPassword },
          service.log,
        ),
        credentials.prepare(),
      ]);
    } catch (err) {
      service.log.fatal({ err }, 'start-up failed');
      await service.stop();
      throw err;
    }
    service.setReady(true);
  };
  return service;
}

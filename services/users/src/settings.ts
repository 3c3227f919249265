import { config, RuntimeError, secret } from '@flotilla/runtime';
import { USERS_DEFAULTS } from './defaults.ts';

/** The users service's configuration, read once at build time. */
export interface UsersSettings {
  readonly adminEmail: string;
  readonly adminPassword: string;
  readonly tokenIssuer: string;
  readonly tokenAudience: string;
  readonly tokenTtlS: number;
  readonly keyRetentionMarginS: number;
}

/** Reads the settings from `env`; a missing ADMIN_PASSWORD or a bad number stops start-up naming the variable. */
export function readSettings(env: NodeJS.ProcessEnv): UsersSettings {
  return Object.freeze({
    adminEmail: config('ADMIN_EMAIL', USERS_DEFAULTS.adminEmail, env).trim().toLowerCase(),
    adminPassword: secret('ADMIN_PASSWORD', env),
    tokenIssuer: config('TOKEN_ISSUER', USERS_DEFAULTS.tokenIssuer, env),
    tokenAudience: config('TOKEN_AUDIENCE', USERS_DEFAULTS.tokenAudience, env),
    tokenTtlS: seconds('TOKEN_TTL_S', USERS_DEFAULTS.tokenTtlS, 1, env),
    keyRetentionMarginS: seconds('KEY_RETENTION_MARGIN_S', USERS_DEFAULTS.keyRetentionMarginS, 0, env),
  });
}

function seconds(name: string, fallback: number, min: number, env: NodeJS.ProcessEnv): number {
  const text = config(name, String(fallback), env);
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    throw new RuntimeError(
      'FLOTILLA_CONFIG_INVALID',
      `${name} must be a whole number of seconds >= ${min} (got "${text}").`,
    );
  }
  return value;
}

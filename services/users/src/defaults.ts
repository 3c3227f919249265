/** Every default of the users service, in one place; times carry their unit in the name. */
export const USERS_DEFAULTS = {
  adminEmail: 'admin@shop.local',
  /** Shown as the admin account's name; the account is identified by its email. */
  adminName: 'Administrator',
  tokenIssuer: 'https://shop.local/identity',
  tokenAudience: 'shop',
  tokenTtlS: 900,
  /**
   * How long a retired key stays in the JWKS beyond the lifetime of the last token it signed:
   * the gateway accepts tokens up to 30 s past `exp` (its clock skew), and other replicas may
   * sign with the retired key for up to `activeKeyCacheMs` after a rotation.
   */
  keyRetentionMarginS: 60,
  /** How long a replica signs with the key it last read before looking again for a rotation. */
  activeKeyCacheMs: 2_000,
  /** `Cache-Control: max-age` of the JWKS, short so that a new key is picked up soon after a rotation. */
  jwksMaxAgeS: 60,
  /** argon2id at OWASP's minimum for it (m = 19 MiB, t = 2, p = 1). */
  argon2: { memoryCost: 19_456, timeCost: 2, parallelism: 1 },
  password: { minLength: 12, maxLength: 128 },
  /** Longest password the token route hashes; anything longer cannot match a registered one. */
  loginPasswordMaxLength: 1_024,
} as const;

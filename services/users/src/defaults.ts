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
  /**
   * Added to `activeKeyCacheMs` for the time a replica may still sign with a retired key (the read
   * of the key and the signing take time too): the JWKS's `flotilla_retired_at` is that much later
   * than the retirement, so no token a replica signed in good faith is refused.
   */
  signingLagMarginMs: 1_000,
  /**
   * `Cache-Control: max-age` of the JWKS: as short as the gateway's refetch interval (its
   * `jwksCacheS`), so that a revoked key leaves every cache within seconds.
   */
  jwksMaxAgeS: 2,
  /** argon2id at OWASP's minimum for it (m = 19 MiB, t = 2, p = 1). */
  argon2: { memoryCost: 19_456, timeCost: 2, parallelism: 1 },
  password: { minLength: 12, maxLength: 128 },
  /** Longest password the token route hashes; anything longer cannot match a registered one. */
  loginPasswordMaxLength: 1_024,
} as const;

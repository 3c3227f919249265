-- Ed25519 keys that sign access tokens. The active key has no retired_at; a retired key keeps
-- its public half (served in the JWKS until its tokens have expired) and loses its private half.
CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  public_jwk jsonb NOT NULL,
  private_jwk jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz,
  CHECK ((retired_at IS NULL) = (private_jwk IS NOT NULL))
);

-- At most one active key, whatever two replicas do at once.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL;

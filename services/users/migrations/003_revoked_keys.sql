-- A revoked key is out of the JWKS at once, whatever its tokens' lifetimes: its private half may
-- have leaked. Only a retired key can be revoked (revoking the active one rotates first).
ALTER TABLE signing_keys
  ADD COLUMN revoked_at timestamptz,
  ADD CONSTRAINT signing_keys_revoked_is_retired CHECK (revoked_at IS NULL OR retired_at IS NOT NULL);

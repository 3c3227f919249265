-- "In flight" as a lease on the key's row instead of a session advisory lock: a holder renews
-- `locked_until` while it works, and once it lapses (the holder died, or hangs) a retry takes the
-- key over by bumping `lease_token`. Every write for the key checks the token it claimed with, so a
-- holder that comes back after a takeover writes nothing. `lease_owner` names the instance and
-- process, for whoever reads the table.
ALTER TABLE idempotency_keys
  ADD COLUMN lease_token bigint NOT NULL DEFAULT 0,
  ADD COLUMN lease_owner text,
  ADD COLUMN locked_until timestamptz;

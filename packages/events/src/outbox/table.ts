/** The outbox, in the producing service's own database. */
export const OUTBOX_TABLE = 'flotilla_outbox';

/** The channel an outbox write notifies, so a relay publishes at once rather than at its next poll. */
export const OUTBOX_CHANNEL = 'flotilla_outbox';

/** Creates the outbox; idempotent. */
export const OUTBOX_SQL = `CREATE TABLE IF NOT EXISTS ${OUTBOX_TABLE} (
  id bigserial PRIMARY KEY,
  envelope jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
)`;

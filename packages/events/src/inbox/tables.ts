/** Ids of the events a consuming service has processed, in its own database. */
export const INBOX_TABLE = 'flotilla_inbox';

/** Events whose handler failed maxAttempts times, or that could not be handled at all. */
export const DEAD_LETTERS_TABLE = 'flotilla_dead_letters';

/** Creates the inbox and the dead letters; idempotent. */
export const INBOX_SQL = [
  `CREATE TABLE IF NOT EXISTS ${INBOX_TABLE} (
    event_id uuid PRIMARY KEY,
    type text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
  )`,
  `CREATE TABLE IF NOT EXISTS ${DEAD_LETTERS_TABLE} (
    id bigserial PRIMARY KEY,
    subscription text NOT NULL,
    envelope jsonb NOT NULL,
    error text NOT NULL,
    attempts integer NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
  )`,
] as const;

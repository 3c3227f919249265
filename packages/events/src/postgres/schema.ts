/** Subscriptions and the event types each receives. */
export const SUBSCRIPTIONS_TABLE = 'flotilla_bus_subscriptions';

/** One row per event per subscription, from publish (or send) until a consumer acks it. */
export const MESSAGES_TABLE = 'flotilla_bus_messages';

/** The channel publish and send notify, with the subscription as payload. */
export const BUS_CHANNEL = 'flotilla_bus';

/**
 * The bus's tables. A message is claimable once `available_at` has passed: a retry sets it to
 * when the retry is due, and a claim pushes it to the end of the lease it takes, so a lease that
 * runs out (its consumer died) makes the message claimable again with no separate sweep. `lease`
 * names the claim, so a consumer whose lease was taken over cannot settle the new holder's claim.
 */
export const BUS_SCHEMA_SQL = [
  `CREATE TABLE IF NOT EXISTS ${SUBSCRIPTIONS_TABLE} (
    name text PRIMARY KEY,
    types text[] NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS ${MESSAGES_TABLE} (
    id bigserial PRIMARY KEY,
    subscription text NOT NULL,
    envelope jsonb NOT NULL,
    attempt integer NOT NULL DEFAULT 1,
    available_at timestamptz NOT NULL DEFAULT now(),
    lease uuid,
    created_at timestamptz NOT NULL DEFAULT now()
  )`,
  // The claim query reads the due messages of one subscription, oldest first.
  `CREATE INDEX IF NOT EXISTS ${MESSAGES_TABLE}_claim ON ${MESSAGES_TABLE} (subscription, available_at, id)`,
] as const;

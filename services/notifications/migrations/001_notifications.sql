-- Who to notify, as the identity service announced them (user.registered).
CREATE TABLE recipients (
  user_id text PRIMARY KEY,
  email text NOT NULL,
  name text NOT NULL,
  phone text,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every notification, from the event that caused it to its delivery. One per event and channel:
-- a redelivered event can never make a second one. `id` is also the email's Message-ID, so a
-- resend after a crash is recognisable as the same message by the receiver.
CREATE TABLE notifications (
  id uuid PRIMARY KEY,
  user_id text NOT NULL,
  event_id uuid NOT NULL,
  event_type text NOT NULL,
  channel text NOT NULL CHECK (channel IN ('email', 'sms', 'push')),
  address text NOT NULL,
  subject text NOT NULL,
  body text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  UNIQUE (event_id, channel)
);

CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_by_user ON notifications (user_id, created_at DESC, id DESC);

-- What the local SMS and push providers delivered: the stand-in for a provider's own records.
CREATE TABLE local_deliveries (
  message_id text PRIMARY KEY,
  channel text NOT NULL,
  address text NOT NULL,
  body text NOT NULL,
  delivered_at timestamptz NOT NULL DEFAULT now()
);

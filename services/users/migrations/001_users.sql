CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text NOT NULL,
  name text NOT NULL,
  phone text,
  password_hash text NOT NULL,
  roles text[] NOT NULL DEFAULT '{customer}',
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Emails are stored lowercase; indexing lower(email) keeps them unique whatever a writer forgets.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Orders belong to the user who placed them (the verified JWT subject).
CREATE TABLE orders (
  id uuid PRIMARY KEY,
  owner text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'paid', 'payment_failed', 'cancelled')),
  total_cents integer NOT NULL CHECK (total_cents > 0),
  currency char(3) NOT NULL,
  card_last4 char(4) NOT NULL,
  decline_code text,
  created_at timestamptz NOT NULL DEFAULT now(),
  paid_at timestamptz,
  cancelled_at timestamptz
);

CREATE INDEX orders_by_owner ON orders (owner, created_at DESC, id DESC);

CREATE TABLE order_items (
  order_id uuid NOT NULL REFERENCES orders (id),
  product_id uuid NOT NULL REFERENCES products (id),
  name text NOT NULL,
  quantity integer NOT NULL CHECK (quantity > 0),
  unit_price_cents integer NOT NULL CHECK (unit_price_cents > 0),
  PRIMARY KEY (order_id, product_id)
);

-- One row per (caller, Idempotency-Key). `order_id` is the recovery point: once set, the order and
-- its stock reservation exist, and a retry resumes at the charge. `response_*` is set once the
-- outcome is final, and is replayed byte for byte to every later request with the same key.
CREATE TABLE idempotency_keys (
  owner text NOT NULL,
  key text NOT NULL,
  request_hash text NOT NULL,
  order_id uuid REFERENCES orders (id),
  response_status integer,
  response_body text,
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  PRIMARY KEY (owner, key)
);

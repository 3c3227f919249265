-- One charge per order, ever: order_id is unique, and every request for an order locks its row.
-- The card is kept as brand and last four digits only; the full number is never written anywhere.
CREATE TABLE payment_charges (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  order_id uuid NOT NULL UNIQUE,
  status text NOT NULL CHECK (status IN ('processing', 'approved', 'declined', 'refunded')),
  amount_cents integer NOT NULL CHECK (amount_cents > 0),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  card_brand text NOT NULL,
  card_last4 text NOT NULL CHECK (card_last4 ~ '^[0-9]{4}$'),
  decline_code text CHECK ((status = 'declined') = (decline_code IS NOT NULL)),
  -- Processor attempts so far. Kept here, not in memory, so that the attempt number a processor
  -- sees holds across replicas and restarts.
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Full refunds only: at most one per charge.
CREATE TABLE payment_refunds (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  charge_id uuid NOT NULL UNIQUE REFERENCES payment_charges (id),
  amount_cents integer NOT NULL CHECK (amount_cents > 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Every call made to the card processor and what it answered: what to reconcile against the
-- processor's own records, and the proof that no charge was sent twice.
CREATE TABLE payment_processor_calls (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  charge_id uuid NOT NULL REFERENCES payment_charges (id),
  operation text NOT NULL CHECK (operation IN ('authorize', 'refund')),
  outcome text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX payment_processor_calls_charge_id ON payment_processor_calls (charge_id);

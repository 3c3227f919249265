-- A charge can be voided: the order gave up on it before it had a final answer. A voided row
-- refuses every later charge of the order, so a charge request that arrives late (a slow network,
-- a retry) can never take money for an order that has been abandoned. A void that comes before any
-- charge request writes the row itself, with no card.
ALTER TABLE payment_charges DROP CONSTRAINT payment_charges_status_check;
ALTER TABLE payment_charges ADD CONSTRAINT payment_charges_status_check
  CHECK (status IN ('processing', 'approved', 'declined', 'refunded', 'voided'));
ALTER TABLE payment_charges ALTER COLUMN card_brand DROP NOT NULL;
ALTER TABLE payment_charges ALTER COLUMN card_last4 DROP NOT NULL;
ALTER TABLE payment_charges ADD CONSTRAINT payment_charges_card_known
  CHECK (status = 'voided' OR (card_brand IS NOT NULL AND card_last4 IS NOT NULL));

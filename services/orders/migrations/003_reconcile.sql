-- What the reconciler looks for: orders still pending, oldest first, and the key of each.
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'pending';
CREATE INDEX idempotency_keys_by_order ON idempotency_keys (order_id) WHERE order_id IS NOT NULL;

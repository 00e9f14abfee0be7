-- Which order a payment id was given to, reserved when the order is created (before its
-- workflow starts), so that two orders created at the same moment cannot both be given one
-- id: the second is refused at once instead of failing at the charge after its approval.
CREATE TABLE IF NOT EXISTS payment_id_reservations (
    payment_id   TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL,
    reserved_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Orders created before this migration hold their ids already.
INSERT INTO payment_id_reservations (payment_id, order_id)
    SELECT payment_id, id FROM orders ON CONFLICT (payment_id) DO NOTHING;
INSERT INTO payment_id_reservations (payment_id, order_id)
    SELECT payment_id, order_id FROM payments ON CONFLICT (payment_id) DO NOTHING;

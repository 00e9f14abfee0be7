-- The hand-over, the ending and the refund read an order's payments by order_id under its row
-- lock; payments_one_charge_per_order covers charged rows only, which those reads cannot use,
-- so each scanned the whole table (0.5-0.8 ms at 10,000 orders, growing with every order).
CREATE INDEX IF NOT EXISTS payments_order_idx ON payments (order_id);

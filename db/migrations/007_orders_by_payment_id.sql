-- Creating an order asks whether an order already holds its payment id (queries.reserve_payment_id:
-- one started by other means than the operator's tools has no reservation); without this index
-- each create scanned every order (1.8 ms at 10,000 orders).
CREATE INDEX IF NOT EXISTS orders_payment_id_idx ON orders (payment_id);

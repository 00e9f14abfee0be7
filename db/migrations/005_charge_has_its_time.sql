-- A payment that says it was charged (CHARGED, or REFUNDED after a charge) has its charge time,
-- so that payments_one_charge_per_order, which indexes rows with charged_at, sees every charge:
-- a second charge of one order cannot get past it by leaving charged_at empty.
ALTER TABLE payments ADD CONSTRAINT payments_charge_has_its_time
    CHECK (status NOT IN ('CHARGED', 'REFUNDED') OR charged_at IS NOT NULL);

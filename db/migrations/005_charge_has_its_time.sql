-- A payment that says it was charged (CHARGED, or REFUNDED after a charge) has its charge time,
-- so that payments_one_charge_per_order, which indexes rows with charged_at, sees every charge:
-- a second charge of one order cannot get past it by leaving charged_at empty.
-- Re-runnable: PostgreSQL has no ADD CONSTRAINT IF NOT EXISTS.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint WHERE conname = 'payments_charge_has_its_time' AND conrelid = 'payments'::regclass
    ) THEN
        ALTER TABLE payments ADD CONSTRAINT payments_charge_has_its_time
            CHECK (status NOT IN ('CHARGED', 'REFUNDED') OR charged_at IS NOT NULL);
    END IF;
END
$$;

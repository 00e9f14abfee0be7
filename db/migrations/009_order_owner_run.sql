-- Which run chain of its workflow id owns the order: the first run id of the run that stored
-- the row (Temporal's first_execution_run_id, which a reset and a retry keep). Once the order's
-- workflow has closed, anyone with the temporal CLI may start another run under order-<id>;
-- that run is refused at ReceiveOrder instead of running the order again. NULL: stored before
-- this column, owned by the workflow id alone, as then.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS workflow_first_run_id TEXT;

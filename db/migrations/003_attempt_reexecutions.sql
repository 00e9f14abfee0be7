-- A local activity that was running when its worker crashed (or whose workflow task was
-- lost) runs again from attempt 1 on another worker. Those attempts happened too: keep
-- them, told apart from the first execution's by when they started.
ALTER TABLE activity_attempts DROP CONSTRAINT IF EXISTS activity_attempts_workflow_id_activity_id_attempt_key;
-- Re-runnable: PostgreSQL has no ADD CONSTRAINT IF NOT EXISTS.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'activity_attempts_execution_key' AND conrelid = 'activity_attempts'::regclass
    ) THEN
        ALTER TABLE activity_attempts
            ADD CONSTRAINT activity_attempts_execution_key UNIQUE (workflow_id, activity_id, attempt, started_at);
    END IF;
END
$$;

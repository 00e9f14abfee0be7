-- The order tracker's tables. Money is in integer cents; timestamps are UTC.

CREATE TABLE IF NOT EXISTS products (
    sku         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents > 0)
);

CREATE TABLE IF NOT EXISTS orders (
    id                      TEXT PRIMARY KEY,
    workflow_id             TEXT NOT NULL,
    state                   TEXT NOT NULL,
    items_json              JSONB NOT NULL,
    address_json            JSONB NOT NULL,
    amount_cents            BIGINT NOT NULL CHECK (amount_cents >= 0),
    payment_id              TEXT NOT NULL,
    failure_reason          TEXT NOT NULL DEFAULT '',
    tracking_number         TEXT NOT NULL DEFAULT '',
    awaiting_approval_since TIMESTAMPTZ,
    review_ms               BIGINT,
    processing_ms           BIGINT,
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at             TIMESTAMPTZ
);
-- The dashboard pages through orders newest first, optionally filtered by state.
CREATE INDEX IF NOT EXISTS orders_created_idx ON orders (created_at DESC, id);
CREATE INDEX IF NOT EXISTS orders_state_created_idx ON orders (state, created_at DESC, id);

CREATE TABLE IF NOT EXISTS payments (
    payment_id   TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('PENDING', 'CHARGED', 'REFUNDED', 'FAILED')),
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    charged_at   TIMESTAMPTZ,
    refunded_at  TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- At most one charge per order, ever: a refunded charge still counts.
CREATE UNIQUE INDEX IF NOT EXISTS payments_one_charge_per_order
    ON payments (order_id) WHERE charged_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS events (
    id           BIGSERIAL PRIMARY KEY,
    order_id     TEXT NOT NULL,
    type         TEXT NOT NULL,
    -- One row per business fact: a retried activity writes the same key again and is ignored.
    dedupe_key   TEXT NOT NULL,
    payload_json JSONB NOT NULL DEFAULT '{}'::jsonb,
    ts           TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (order_id, dedupe_key)
);
CREATE INDEX IF NOT EXISTS events_order_ts_idx ON events (order_id, ts);

CREATE TABLE IF NOT EXISTS activity_attempts (
    id          BIGSERIAL PRIMARY KEY,
    order_id    TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    activity    TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    attempt     INT NOT NULL CHECK (attempt >= 1),
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'timeout', 'cancelled')),
    error       TEXT,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    duration_ms INT NOT NULL,
    UNIQUE (workflow_id, activity_id, attempt)
);
CREATE INDEX IF NOT EXISTS activity_attempts_order_idx ON activity_attempts (order_id, started_at);

INSERT INTO products (sku, name, price_cents) VALUES
    ('WIDGET-1',  'Widget',             1999),
    ('GADGET-2',  'Gadget',             4950),
    ('GIZMO-3',   'Gizmo',               725),
    ('DOOHICKEY', 'Doohickey',         12000),
    ('SPROCKET',  'Sprocket (pack of 10)', 350),
    ('CABLE-USB', 'USB-C cable, 1 m',    899)
ON CONFLICT (sku) DO NOTHING;

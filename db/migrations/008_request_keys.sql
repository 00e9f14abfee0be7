-- The request a client's idempotency key (the API's Idempotency-Key, the CLI's --request-id)
-- was first sent with, one row per (command, order, key): a retry under the key must repeat
-- that request, and one with another body is refused instead of getting the first's answer
-- (db/request_keys.py). Only a SHA-256 of the normalised request is kept, not the request
-- (an address is personal data). Kept as long as the orders: nothing deletes either.
CREATE TABLE IF NOT EXISTS request_keys (
    command        TEXT NOT NULL,
    order_id       TEXT NOT NULL,
    request_key    TEXT NOT NULL,
    fingerprint    BYTEA NOT NULL,
    first_seen_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, command, request_key)
);

-- States only move forward: a late retry of an earlier step can never move an order back.
CREATE OR REPLACE FUNCTION order_state_rank(state TEXT) RETURNS INT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE state
        WHEN 'RECEIVED' THEN 1
        WHEN 'VALIDATED' THEN 2
        WHEN 'AWAITING_APPROVAL' THEN 3
        WHEN 'APPROVED' THEN 4
        WHEN 'PAID' THEN 5
        WHEN 'PACKED' THEN 6
        WHEN 'DISPATCHED' THEN 7
        ELSE 100  -- terminal states: SHIPPED, CANCELLED, REJECTED, EXPIRED, FAILED
    END
$$;

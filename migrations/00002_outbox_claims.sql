-- +goose Up

-- claimed_until is set while a delivery worker sends the message and cleared
-- when the worker records the outcome. A worker that crashes or hangs leaves
-- it in the past, and the message is claimed again from then on.
ALTER TABLE outbox ADD COLUMN claimed_until timestamptz;
COMMENT ON COLUMN outbox.claimed_until IS 'End of the current delivery attempt''s lease; NULL when no worker holds the message.';

-- Workers claim pending mail in ID order, and the outbox page lists one state
-- newest first.
CREATE INDEX outbox_state_id ON outbox (state, id);

-- +goose Down
DROP INDEX outbox_state_id;
ALTER TABLE outbox DROP COLUMN claimed_until;

-- +goose Up
-- The staff queue sorts by how long a request has waited. An index on the
-- same expression lets PostgreSQL read the first page in order instead of
-- sorting every open request.
CREATE INDEX setup_requests_age ON setup_requests ((coalesce(submitted_at, created_at)), id);

-- +goose Down
DROP INDEX setup_requests_age;

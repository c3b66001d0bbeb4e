-- +goose Up

-- Every status link mailed to a contact gets a row of its own, so a later
-- mail (a decision, a resubmission) adds a link and the links in earlier
-- mails and bookmarks keep working until their own expiry. Re-sending links
-- at the contact's request deletes the older rows, because a contact asks
-- for that when a link leaked.
CREATE TABLE status_links (
    -- hash is the SHA-256 hash of the secret in the link; the secret itself
    -- is never stored. The primary key indexes the lookup by link.
    hash       bytea PRIMARY KEY,
    request_id uuid NOT NULL REFERENCES setup_requests (id) ON DELETE CASCADE,
    -- expires_at ends the link's validity. Expired rows stay, so the page
    -- can say that the link expired instead of that it is unknown.
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX status_links_request ON status_links (request_id);
COMMENT ON TABLE status_links IS 'Private status links mailed to IT contacts, one row per link, as hashes.';
COMMENT ON COLUMN status_links.hash IS 'SHA-256 of the link secret.';
COMMENT ON COLUMN status_links.expires_at IS 'End of the link''s validity.';

-- Each request had exactly one status link, the newest one mailed.
INSERT INTO status_links (hash, request_id, expires_at, created_at)
SELECT status_hash, id, status_expires_at, updated_at FROM setup_requests;

ALTER TABLE setup_requests DROP COLUMN status_hash, DROP COLUMN status_expires_at;

-- +goose Down

-- Only the newest link of each request fits back into setup_requests. A
-- request without one gets the hash of a random value that no link has.
ALTER TABLE setup_requests ADD COLUMN status_hash bytea, ADD COLUMN status_expires_at timestamptz;
UPDATE setup_requests r SET status_hash = l.hash, status_expires_at = l.expires_at
FROM (SELECT DISTINCT ON (request_id) request_id, hash, expires_at FROM status_links
      ORDER BY request_id, created_at DESC, expires_at DESC) l
WHERE l.request_id = r.id;
UPDATE setup_requests SET status_hash = sha256(convert_to(gen_random_uuid()::text, 'UTF8')), status_expires_at = now()
WHERE status_hash IS NULL;
ALTER TABLE setup_requests ALTER COLUMN status_hash SET NOT NULL, ALTER COLUMN status_expires_at SET NOT NULL,
    ADD CONSTRAINT setup_requests_status_hash_key UNIQUE (status_hash);
COMMENT ON COLUMN setup_requests.status_expires_at IS 'End of the private status link''s validity.';
DROP TABLE status_links;

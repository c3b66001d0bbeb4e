-- +goose Up

-- tenant_slug is the tenant slug the contact proposed (or gatehouse derived
-- from the company name). The contact enters the ACS URL /saml/{slug}/acs and
-- the SP entity ID /saml/{slug}/metadata in their IdP before approval, so the
-- slug is fixed when the request is created and approval creates the tenant
-- under it. Rows from before this column get a slug made from their reference.
ALTER TABLE setup_requests ADD COLUMN tenant_slug text;
UPDATE setup_requests SET tenant_slug = lower(reference);
ALTER TABLE setup_requests ALTER COLUMN tenant_slug SET NOT NULL;
ALTER TABLE setup_requests ADD CONSTRAINT setup_requests_tenant_slug_check
    CHECK (tenant_slug ~ '^[a-z0-9][a-z0-9-]{1,62}$');
COMMENT ON COLUMN setup_requests.tenant_slug IS 'Tenant slug shown to the contact in the ACS URL and SP entity ID; the tenant is created under it.';

-- Two open requests never propose the same slug. Decided requests release
-- theirs: a rejected or withdrawn request's slug is free again, and an
-- approved one's is held by its tenant (tenants.slug is unique). The check
-- against tenants runs in the transaction that stores the request.
CREATE UNIQUE INDEX setup_requests_open_slug ON setup_requests (tenant_slug)
    WHERE state IN ('unverified', 'submitted', 'in_review', 'changes_requested');

-- contact_outside_domains is set when the contact's email address is in none
-- of the email domains the request lists. Such a request is accepted, and
-- staff check that the contact speaks for the company.
ALTER TABLE setup_requests ADD COLUMN contact_outside_domains boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN setup_requests.contact_outside_domains IS 'The contact email is outside the listed email domains; shown to staff as a warning.';

-- idp_vendor is the IdP product the contact named (okta, entra, google,
-- onelogin, jumpcloud, adfs, ping, keycloak, other), or '' when unknown. It
-- selects the setup instructions shown to the contact.
ALTER TABLE setup_requests ADD COLUMN idp_vendor text NOT NULL DEFAULT '';
COMMENT ON COLUMN setup_requests.idp_vendor IS 'IdP product named by the contact, selecting the instructions they see.';

-- The contact's links expire. A re-sent or renewed link replaces the hash in
-- status_hash or verify_hash, so the older link stops working at once.
ALTER TABLE setup_requests ADD COLUMN verify_expires_at timestamptz;
ALTER TABLE setup_requests ADD COLUMN status_expires_at timestamptz;
UPDATE setup_requests SET status_expires_at = now() + interval '30 days';
ALTER TABLE setup_requests ALTER COLUMN status_expires_at SET NOT NULL;
COMMENT ON COLUMN setup_requests.verify_expires_at IS 'End of the verification link''s validity; NULL once verified.';
COMMENT ON COLUMN setup_requests.status_expires_at IS 'End of the private status link''s validity.';

CREATE INDEX setup_requests_contact_email ON setup_requests (lower(contact_email), created_at);

-- Each resubmission after a change request keeps the values it replaces, so
-- staff can compare versions and the earlier metadata stays available for
-- audit, verbatim.
CREATE TABLE request_revisions (
    id         bigserial PRIMARY KEY,
    request_id uuid NOT NULL REFERENCES setup_requests (id) ON DELETE CASCADE,
    -- version is the request's version when these values were replaced.
    version    integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- request holds the replaced row as JSON, without the link hashes.
    request    jsonb NOT NULL
);
CREATE INDEX request_revisions_request ON request_revisions (request_id, id);
COMMENT ON TABLE request_revisions IS 'Values of a setup request before each resubmission by the contact.';

-- +goose Down
DROP TABLE request_revisions;
DROP INDEX setup_requests_contact_email;
DROP INDEX setup_requests_open_slug;
ALTER TABLE setup_requests DROP COLUMN status_expires_at, DROP COLUMN verify_expires_at,
    DROP COLUMN idp_vendor, DROP COLUMN contact_outside_domains, DROP COLUMN tenant_slug;

-- +goose Up

-- pg_trgm lets the staff queue search company names and contact emails by
-- substring through an index. It is a trusted extension, so the database
-- owner can create it without superuser rights.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Failed staff sign-ins, counted per client address and per email over a
-- sliding window to slow down password guessing. Rows older than the
-- window are deleted by the sign-in code as it goes.
CREATE TABLE staff_signin_failures (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    client_ip text NOT NULL,
    -- email is the address as typed, lowercased; it may name no account.
    email     text NOT NULL
);
CREATE INDEX staff_signin_failures_ip ON staff_signin_failures (client_ip, at);
CREATE INDEX staff_signin_failures_email ON staff_signin_failures (email, at);
COMMENT ON TABLE staff_signin_failures IS 'Recent failed staff sign-ins, for rate limiting.';

-- The contact who receives a tenant's token deliveries and certificate
-- expiry notices. Approval copies it from the setup request.
ALTER TABLE tenants ADD COLUMN contact_name text NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN contact_email text NOT NULL DEFAULT '';
COMMENT ON COLUMN tenants.contact_email IS 'IT contact who receives token deliveries and certificate expiry notices; empty when unknown.';

-- Staff work on a request: who claimed it and when, and the configuration
-- meeting that a Marketplace request needs before it can be approved.
ALTER TABLE setup_requests ADD COLUMN claimed_at timestamptz;
ALTER TABLE setup_requests ADD COLUMN meeting_on date;
ALTER TABLE setup_requests ADD COLUMN meeting_note text NOT NULL DEFAULT '';
ALTER TABLE setup_requests ADD COLUMN meeting_recorded_by text NOT NULL DEFAULT '';
COMMENT ON COLUMN setup_requests.claimed_at IS 'When claimed_by claimed the request.';
COMMENT ON COLUMN setup_requests.meeting_on IS 'Date of the configuration meeting with the customer; required before a Marketplace request is approved.';
COMMENT ON COLUMN setup_requests.meeting_note IS 'What was agreed in the configuration meeting.';
COMMENT ON COLUMN setup_requests.meeting_recorded_by IS 'Staff actor ("staff:<email>") who recorded the meeting.';

-- Indexes for the staff queue: filter by state and product, sort by age,
-- search by company, contact email, reference prefix or exact domain.
CREATE INDEX setup_requests_queue_product ON setup_requests (state, product, submitted_at, id);
CREATE INDEX setup_requests_submitted ON setup_requests (submitted_at, id);
CREATE INDEX setup_requests_company_trgm ON setup_requests USING gin (company_name gin_trgm_ops);
CREATE INDEX setup_requests_contact_trgm ON setup_requests USING gin (contact_email gin_trgm_ops);
CREATE INDEX setup_requests_domains ON setup_requests USING gin (email_domains);
CREATE INDEX setup_requests_reference_prefix ON setup_requests (reference text_pattern_ops);
CREATE INDEX setup_requests_tenant ON setup_requests (tenant_id);

-- The certificate expiry notices already sent, one per certificate and
-- threshold (30, 7 or 1 days), so several instances send each only once.
CREATE TABLE certificate_expiry_notices (
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    fingerprint    text NOT NULL,
    threshold_days integer NOT NULL CHECK (threshold_days > 0),
    sent_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, fingerprint, threshold_days)
);
COMMENT ON TABLE certificate_expiry_notices IS 'IdP certificate expiry emails sent, one row per certificate and threshold.';
CREATE INDEX idp_certificates_not_after ON idp_certificates (not_after);

-- Token deliveries: the re-key job looks for sealed rows under an old key,
-- and the tenant page lists a tenant's deliveries.
CREATE INDEX token_deliveries_sealed_key ON token_deliveries (key_id) WHERE ciphertext IS NOT NULL;
CREATE INDEX token_deliveries_tenant ON token_deliveries (tenant_id, created_at);

-- The audit page lists everything newest first and filters by action and actor.
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);

-- The audit trail is append-only. The one update allowed is the foreign
-- keys' ON DELETE SET NULL, which clears tenant_id or request_id when a
-- tenant or request is deleted.
-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (NEW.id, NEW.at, NEW.actor, NEW.action, NEW.client_ip, NEW.detail)
           IS NOT DISTINCT FROM (OLD.id, OLD.at, OLD.actor, OLD.action, OLD.client_ip, OLD.detail)
       AND (NEW.tenant_id IS NOT DISTINCT FROM OLD.tenant_id OR NEW.tenant_id IS NULL)
       AND (NEW.request_id IS NOT DISTINCT FROM OLD.request_id OR NEW.request_id IS NULL) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- +goose Down
DROP TRIGGER audit_log_append_only ON audit_log;
DROP FUNCTION audit_log_append_only();
DROP INDEX audit_log_actor, audit_log_action, token_deliveries_tenant, token_deliveries_sealed_key,
    idp_certificates_not_after;
DROP TABLE certificate_expiry_notices;
DROP INDEX setup_requests_tenant, setup_requests_reference_prefix, setup_requests_domains,
    setup_requests_contact_trgm, setup_requests_company_trgm, setup_requests_submitted,
    setup_requests_queue_product;
ALTER TABLE setup_requests DROP COLUMN meeting_recorded_by, DROP COLUMN meeting_note,
    DROP COLUMN meeting_on, DROP COLUMN claimed_at;
ALTER TABLE tenants DROP COLUMN contact_email, DROP COLUMN contact_name;
DROP TABLE staff_signin_failures;

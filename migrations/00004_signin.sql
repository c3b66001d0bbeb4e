-- +goose Up

-- AuthnRequests that gatehouse sent to an IdP and that wait for their
-- Response. The IdP's POST to the ACS is cross-site and carries no
-- SameSite=Lax cookie, so the ACS finds the request by the Response's
-- InResponseTo, which is this row's id. A row is deleted when its Response
-- is accepted, and expired rows are purged as new requests start.
CREATE TABLE saml_requests (
    -- id is the AuthnRequest's ID attribute.
    id               text PRIMARY KEY,
    -- Exactly one of tenant_id and setup_request_id is set: a sign-in to a
    -- tenant, or a contact's test of the IdP settings in a setup request.
    tenant_id        uuid REFERENCES tenants (id) ON DELETE CASCADE,
    setup_request_id uuid REFERENCES setup_requests (id) ON DELETE CASCADE,
    -- slug is the tenant slug in the ACS URL the Response must arrive at.
    slug             text NOT NULL,
    -- relay_state is the local path to open after the sign-in, or ''.
    relay_state      text NOT NULL DEFAULT '',
    -- The return_* columns hold the contact's status page path, sealed
    -- under the master key, for a test sign-in: the path contains the
    -- status link's secret, which is never stored in plaintext.
    return_key_id    text,
    return_data_key  bytea,
    return_sealed    bytea,
    client_ip        text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    CHECK ((tenant_id IS NULL) <> (setup_request_id IS NULL))
);
CREATE INDEX saml_requests_expires ON saml_requests (expires_at);
CREATE INDEX saml_requests_client ON saml_requests (client_ip, created_at);
CREATE INDEX saml_requests_setup ON saml_requests (setup_request_id, created_at) WHERE setup_request_id IS NOT NULL;
COMMENT ON TABLE saml_requests IS 'Pending SAML AuthnRequests, found by the Response''s InResponseTo.';

-- The IDs of accepted assertions, kept until the assertion could no longer
-- be accepted anyway, so each assertion signs someone in once.
CREATE TABLE saml_assertion_ids (
    -- scope_id is the tenant's ID, or the setup request's ID for a test sign-in.
    scope_id     uuid NOT NULL,
    assertion_id text NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (scope_id, assertion_id)
);
CREATE INDEX saml_assertion_ids_expires ON saml_assertion_ids (expires_at);
COMMENT ON TABLE saml_assertion_ids IS 'SAML replay cache: assertion IDs already accepted, per tenant.';

-- The service provider's key pair. IdPs encrypt assertions to its
-- certificate, which the SP metadata publishes. The private key is sealed
-- under the master key (AES-256-GCM envelope encryption).
CREATE TABLE saml_sp_keys (
    id          smallint PRIMARY KEY CHECK (id = 1),
    certificate bytea NOT NULL,
    key_id      text NOT NULL,
    data_key    bytea NOT NULL,
    sealed_key  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE saml_sp_keys IS 'The SAML service provider''s certificate and sealed private key.';

-- Failed password sign-ins of tenant users, counted per client address and
-- per email over a sliding window to slow down password guessing. Rows
-- older than the window are deleted by the sign-in code as it goes.
CREATE TABLE user_signin_failures (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    client_ip  text NOT NULL,
    -- email_hash is the SHA-256 of the lowercased email as typed, so the
    -- table holds no addresses.
    email_hash bytea NOT NULL
);
CREATE INDEX user_signin_failures_ip ON user_signin_failures (client_ip, at);
CREATE INDEX user_signin_failures_email ON user_signin_failures (email_hash, at);
COMMENT ON TABLE user_signin_failures IS 'Recent failed password sign-ins of tenant users, for rate limiting.';

-- The outcome of the contact's last test sign-in against the IdP settings
-- in the request. test_result is JSON:
--   {"ok": true, "name_id": "...", "name_id_format": "...",
--    "attributes": [{"name": "...", "values": ["..."]}]}
-- or {"ok": false, "code": "issuer", "reason": "..."}, where reason is
-- written for the contact.
ALTER TABLE setup_requests ADD COLUMN test_result jsonb;
ALTER TABLE setup_requests ADD COLUMN test_at timestamptz;
COMMENT ON COLUMN setup_requests.test_result IS 'Outcome of the contact''s last test sign-in, as JSON; NULL before the first.';
COMMENT ON COLUMN setup_requests.test_at IS 'When the last test sign-in finished.';

-- +goose Down
ALTER TABLE setup_requests DROP COLUMN test_at, DROP COLUMN test_result;
DROP TABLE user_signin_failures, saml_sp_keys, saml_assertion_ids, saml_requests;

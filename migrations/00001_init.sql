-- +goose Up

-- Tenants are companies whose users sign in through their own IdP and are
-- provisioned over SCIM. One row per company and product.
CREATE TABLE tenants (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug          text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name          text NOT NULL,
    product       text NOT NULL CHECK (product IN ('meal_program', 'marketplace')),
    scim_enabled  boolean NOT NULL DEFAULT false,
    require_sso   boolean NOT NULL DEFAULT false,
    autoprovision boolean NOT NULL DEFAULT false,
    idp_initiated boolean NOT NULL DEFAULT false,
    -- allow_sha1 accepts SAML signatures made with SHA-1, which are rejected otherwise.
    allow_sha1    boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tenants IS 'Customer companies onboarded onto a product.';

-- The approved SAML IdP configuration of a tenant.
CREATE TABLE saml_connections (
    tenant_id     uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    idp_entity_id text NOT NULL,
    sso_url       text NOT NULL,
    sso_binding   text NOT NULL,
    -- metadata_xml is the approved document, verbatim, for audit; empty when entered by hand.
    metadata_xml  text NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE saml_connections IS 'Approved SAML IdP settings, one per tenant.';

-- Every signing certificate of the tenant's IdP is trusted, to survive rollovers.
CREATE TABLE idp_certificates (
    id          bigserial PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    der         bytea NOT NULL,
    not_after   timestamptz NOT NULL,
    fingerprint text NOT NULL,
    UNIQUE (tenant_id, fingerprint)
);
COMMENT ON TABLE idp_certificates IS 'Signing certificates of a tenant''s IdP.';

CREATE TABLE drop_locations (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
COMMENT ON TABLE drop_locations IS 'Places where a tenant''s food is dropped off; each user picks one.';

-- Users of a tenant. SCIM creates, links, updates and deactivates them.
CREATE TABLE users (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_name        text NOT NULL,
    external_id      text,
    given_name       text NOT NULL DEFAULT '',
    family_name      text NOT NULL DEFAULT '',
    display_name     text NOT NULL DEFAULT '',
    email            text NOT NULL DEFAULT '',
    active           boolean NOT NULL DEFAULT true,
    -- scim_managed is set once an IdP created or linked the user over SCIM.
    scim_managed     boolean NOT NULL DEFAULT false,
    -- attributes holds the SCIM attributes that have no column of their own
    -- (emails, phone numbers, the enterprise extension, ...), as SCIM JSON.
    attributes       jsonb NOT NULL DEFAULT '{}',
    password_hash    text,
    drop_location_id uuid REFERENCES drop_locations (id) ON DELETE SET NULL,
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- deleted_at marks a user deleted over SCIM: hidden from SCIM and sign-in, data kept.
    deleted_at       timestamptz
);
CREATE UNIQUE INDEX users_tenant_user_name ON users (tenant_id, lower(user_name));
CREATE INDEX users_tenant_email ON users (tenant_id, lower(email));
CREATE INDEX users_tenant_external_id ON users (tenant_id, external_id);
COMMENT ON TABLE users IS 'A tenant''s users, provisioned over SCIM or signed in over SAML.';

CREATE TABLE groups (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    display_name text NOT NULL,
    external_id  text,
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX groups_tenant_display_name ON groups (tenant_id, lower(display_name));
COMMENT ON TABLE groups IS 'Groups pushed by a tenant''s IdP over SCIM.';

CREATE TABLE group_members (
    group_id  uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- SCIM bearer tokens, stored only as SHA-256 hashes.
CREATE TABLE scim_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hash         bytea NOT NULL UNIQUE,
    -- hint is the token's prefix and last four characters, enough to recognize it.
    hint         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- expires_at ends a rotated-out token's grace period; NULL means no expiry.
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX scim_tokens_tenant ON scim_tokens (tenant_id);
COMMENT ON TABLE scim_tokens IS 'SCIM bearer tokens by hash; the plaintext is never stored.';

-- One-time deliveries of a token's plaintext, sealed with envelope encryption.
CREATE TABLE token_deliveries (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    token_id    uuid NOT NULL REFERENCES scim_tokens (id) ON DELETE CASCADE,
    -- link_hash is the SHA-256 of the secret in the reveal link.
    link_hash   bytea NOT NULL UNIQUE,
    -- key_id names the master key that wrapped data_key.
    key_id      text,
    data_key    bytea,
    ciphertext  bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revealed_at timestamptz,
    voided_at   timestamptz,
    -- The sealed columns are erased once the delivery is revealed, voided or expired.
    CHECK ((ciphertext IS NULL) = (data_key IS NULL))
);
COMMENT ON TABLE token_deliveries IS 'Sealed SCIM token plaintexts waiting to be revealed once.';

CREATE TABLE staff (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL,
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('reviewer', 'admin')),
    password_hash text,
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
);
CREATE UNIQUE INDEX staff_email ON staff (lower(email));
COMMENT ON TABLE staff IS 'Implementations staff who review setup requests.';

-- One-time links for setting a password (staff or tenant users).
CREATE TABLE password_links (
    link_hash  bytea PRIMARY KEY,
    staff_id   uuid REFERENCES staff (id) ON DELETE CASCADE,
    user_id    uuid REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CHECK ((staff_id IS NULL) <> (user_id IS NULL))
);

-- Server-side sessions for staff and tenant users, keyed by a hash of the cookie value.
CREATE TABLE sessions (
    id_hash      bytea PRIMARY KEY,
    staff_id     uuid REFERENCES staff (id) ON DELETE CASCADE,
    user_id      uuid REFERENCES users (id) ON DELETE CASCADE,
    tenant_id    uuid REFERENCES tenants (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    CHECK ((staff_id IS NULL) <> (user_id IS NULL))
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_staff ON sessions (staff_id);

-- Setup requests submitted by customers' IT contacts.
CREATE TABLE setup_requests (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    reference           text NOT NULL UNIQUE,
    state               text NOT NULL CHECK (state IN ('unverified', 'submitted', 'in_review', 'changes_requested', 'approved', 'rejected', 'withdrawn')),
    -- version increases on every change, for optimistic locking.
    version             integer NOT NULL DEFAULT 1,
    company_name        text NOT NULL,
    email_domains       text[] NOT NULL,
    product             text NOT NULL CHECK (product IN ('meal_program', 'marketplace')),
    contact_name        text NOT NULL,
    contact_email       text NOT NULL,
    contact_phone       text NOT NULL DEFAULT '',
    -- metadata_xml is the submitted IdP metadata, verbatim; empty when entered by hand.
    metadata_xml        text NOT NULL DEFAULT '',
    idp_entity_id       text NOT NULL,
    sso_url             text NOT NULL,
    sso_binding         text NOT NULL,
    -- certificates holds the signing certificates as DER.
    certificates        bytea[] NOT NULL,
    -- metadata_report is the validator's findings as JSON, shown to staff.
    metadata_report     jsonb NOT NULL DEFAULT '{}',
    scim_requested      boolean NOT NULL,
    require_sso         boolean NOT NULL,
    autoprovision       boolean NOT NULL,
    notes               text NOT NULL DEFAULT '',
    -- status_hash and verify_hash are SHA-256 hashes of the secrets in the contact's links.
    status_hash         bytea NOT NULL UNIQUE,
    verify_hash         bytea UNIQUE,
    verified_at         timestamptz,
    tenant_id           uuid REFERENCES tenants (id),
    claimed_by          uuid REFERENCES staff (id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    submitted_at        timestamptz
);
CREATE INDEX setup_requests_queue ON setup_requests (state, submitted_at);
COMMENT ON TABLE setup_requests IS 'Customers'' requests to connect their IdP, and their review state.';

-- The history of a setup request: every state change with who, when and a note.
CREATE TABLE request_events (
    id         bigserial PRIMARY KEY,
    request_id uuid NOT NULL REFERENCES setup_requests (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL DEFAULT now(),
    -- actor is "contact", "system" or "staff:<email>".
    actor      text NOT NULL,
    from_state text,
    to_state   text NOT NULL,
    note       text NOT NULL DEFAULT ''
);
CREATE INDEX request_events_request ON request_events (request_id, at);

-- Mail waits here until the delivery worker sends it, so a message is never
-- lost when SMTP is down and is enqueued in the caller's transaction.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL,
    to_address      text NOT NULL,
    subject         text NOT NULL,
    text_body       text NOT NULL,
    html_body       text NOT NULL DEFAULT '',
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE state = 'pending';
COMMENT ON TABLE outbox IS 'Mail to send; rows stay after sending for staff to inspect.';

-- Append-only record of every staff action, token event and sign-in.
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    tenant_id  uuid REFERENCES tenants (id) ON DELETE SET NULL,
    request_id uuid REFERENCES setup_requests (id) ON DELETE SET NULL,
    client_ip  text NOT NULL DEFAULT '',
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, at);
CREATE INDEX audit_log_request ON audit_log (request_id, at);

-- +goose Down
DROP TABLE audit_log, outbox, request_events, setup_requests, sessions, password_links,
    staff, token_deliveries, scim_tokens, group_members, groups, users, drop_locations,
    idp_certificates, saml_connections, tenants;

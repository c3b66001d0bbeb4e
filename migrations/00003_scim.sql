-- +goose Up

-- A user deleted over SCIM keeps their row (deleted_at is set), and the IdP
-- may later create someone with the same userName. The userName therefore
-- has to be unique among the users that are not deleted only.
DROP INDEX users_tenant_user_name;
CREATE UNIQUE INDEX users_tenant_user_name ON users (tenant_id, lower(user_name)) WHERE deleted_at IS NULL;

-- scim_email_values returns every address in a SCIM "emails" attribute,
-- lowercased, so that the filter emails.value eq "..." can use an index.
-- +goose StatementBegin
CREATE FUNCTION scim_email_values(attributes jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY(
    SELECT lower(e ->> 'value')
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(attributes -> 'emails') = 'array' THEN attributes -> 'emails' ELSE '[]'::jsonb END) e
    WHERE e ->> 'value' IS NOT NULL
);
-- +goose StatementEnd
CREATE INDEX users_email_values ON users USING gin (scim_email_values(attributes));

-- Every request to a tenant's SCIM endpoints, for staff to see what the
-- tenant's IdP sent and what it got back. Bodies, tokens and query strings
-- are never stored.
CREATE TABLE scim_request_log (
    id         bigserial PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL,
    method     text NOT NULL,
    -- path is the request path without the query string.
    path       text NOT NULL,
    status     integer NOT NULL,
    latency_us integer NOT NULL,
    -- scim_type and detail repeat the SCIM error sent back; empty on success.
    scim_type  text NOT NULL DEFAULT '',
    detail     text NOT NULL DEFAULT '',
    request_id text NOT NULL DEFAULT ''
);
CREATE INDEX scim_request_log_tenant ON scim_request_log (tenant_id, id);
COMMENT ON TABLE scim_request_log IS 'SCIM requests per tenant: method, path, status, latency and error; no bodies or tokens.';

-- +goose Down
DROP TABLE scim_request_log;
DROP INDEX users_email_values;
DROP FUNCTION scim_email_values(jsonb);
DROP INDEX users_tenant_user_name;
CREATE UNIQUE INDEX users_tenant_user_name ON users (tenant_id, lower(user_name));

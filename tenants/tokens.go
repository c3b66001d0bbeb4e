package tenants

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// TokenRecord is what is stored about a SCIM token: never its plaintext.
type TokenRecord struct {
	ID         string     `db:"id"`
	TenantID   string     `db:"tenant_id"`
	Hint       string     `db:"hint"`
	CreatedAt  time.Time  `db:"created_at"`
	ExpiresAt  *time.Time `db:"expires_at"`
	RevokedAt  *time.Time `db:"revoked_at"`
	LastUsedAt *time.Time `db:"last_used_at"`
}

// Active reports whether the token authenticates at time now.
func (r TokenRecord) Active(now time.Time) bool {
	return r.RevokedAt == nil && (r.ExpiresAt == nil || now.Before(*r.ExpiresAt))
}

// ErrUnauthorized means a bearer token is unknown, revoked or expired.
var ErrUnauthorized = errors.New("invalid or revoked token")

// IssueToken creates a SCIM token for a tenant and returns its plaintext,
// which exists nowhere else: the caller must seal it into a delivery or
// print it once.
func (s *Store) IssueToken(ctx context.Context, tenantID string) (secrets.Token, TokenRecord, error) {
	token := secrets.NewToken()
	var rec TokenRecord
	err := sqlx.GetContext(ctx, s.db, &rec, `
		INSERT INTO scim_tokens (tenant_id, hash, hint) VALUES ($1, $2, $3)
		RETURNING id, tenant_id, hint, created_at, expires_at, revoked_at, last_used_at`,
		tenantID, token.Hash(), token.Hint())
	if err != nil {
		return "", TokenRecord{}, fmt.Errorf("issue token: %w", database.Translate(err))
	}
	return token, rec, nil
}

// RotateTokens issues a new token and makes the tenant's other active tokens
// expire after grace, so the IdP keeps working until its configuration is
// updated.
func (s *Store) RotateTokens(ctx context.Context, tenantID string, grace time.Duration) (secrets.Token, TokenRecord, error) {
	_, err := s.db.ExecContext(ctx, `
		UPDATE scim_tokens SET expires_at = now() + make_interval(secs => $2)
		WHERE tenant_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now() + make_interval(secs => $2))`,
		tenantID, grace.Seconds())
	if err != nil {
		return "", TokenRecord{}, fmt.Errorf("rotate tokens: %w", database.Translate(err))
	}
	return s.IssueToken(ctx, tenantID)
}

// RevokeToken ends a token at once and voids its unrevealed deliveries, so
// a revoked token can no longer be revealed either. A token that is
// unknown or already revoked is database.ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, tenantID, tokenID string) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE scim_tokens SET revoked_at = now() WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL`,
		tenantID, tokenID)
	if err != nil {
		return fmt.Errorf("revoke token: %w", database.Translate(err))
	}
	if err := requireOneRow(res, "revoke token"); err != nil {
		return err
	}
	return s.voidTokenDeliveries(ctx, tenantID, tokenID)
}

// Tokens lists a tenant's tokens, newest first.
func (s *Store) Tokens(ctx context.Context, tenantID string) ([]TokenRecord, error) {
	var out []TokenRecord
	err := sqlx.SelectContext(ctx, s.db, &out, `
		SELECT id, tenant_id, hint, created_at, expires_at, revoked_at, last_used_at
		FROM scim_tokens WHERE tenant_id = $1 ORDER BY created_at DESC`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", database.Translate(err))
	}
	return out, nil
}

// TokenByHash returns the active token with that hash and its tenant, or
// ErrUnauthorized. The lookup is by the hash's unique index, so comparing
// plaintexts in application code is never needed.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (TokenRecord, Tenant, error) {
	var row struct {
		TokenRecord
		Tenant Tenant `db:"tenant"`
	}
	err := sqlx.GetContext(ctx, s.db, &row, `
		SELECT k.id, k.tenant_id, k.hint, k.created_at, k.expires_at, k.revoked_at, k.last_used_at,
		       t.id "tenant.id", t.slug "tenant.slug", t.name "tenant.name", t.product "tenant.product",
		       t.scim_enabled "tenant.scim_enabled", t.require_sso "tenant.require_sso",
		       t.autoprovision "tenant.autoprovision", t.idp_initiated "tenant.idp_initiated",
		       t.allow_sha1 "tenant.allow_sha1", t.created_at "tenant.created_at", t.updated_at "tenant.updated_at"
		FROM scim_tokens k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.hash = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())`, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return TokenRecord{}, Tenant{}, ErrUnauthorized
	}
	if err != nil {
		return TokenRecord{}, Tenant{}, fmt.Errorf("authenticate token: %w", database.Translate(err))
	}
	return row.TokenRecord, row.Tenant, nil
}

// TouchTokens records that tokens were used at time at. Callers batch it
// off the request path.
func (s *Store) TouchTokens(ctx context.Context, ids []string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE scim_tokens SET last_used_at = $2
		WHERE id = ANY($1::uuid[]) AND (last_used_at IS NULL OR last_used_at < $2)`, stringArray(ids), at)
	if err != nil {
		return fmt.Errorf("record token use: %w", database.Translate(err))
	}
	return nil
}

func requireOneRow(res sql.Result, op string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, database.ErrNotFound)
	}
	return nil
}

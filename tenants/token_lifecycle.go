package tenants

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// DefaultRotationGrace is how long a rotated-out token keeps working, so
// the IdP can be updated with the new one without an outage.
const DefaultRotationGrace = 24 * time.Hour

// TokenStatus names where a token is in its life, for pages.
type TokenStatus string

// The token statuses.
const (
	TokenActive  TokenStatus = "active"
	TokenInGrace TokenStatus = "grace"   // rotated out; works until ExpiresAt
	TokenExpired TokenStatus = "expired" // rotated out and past its grace period
	TokenRevoked TokenStatus = "revoked"
)

// Status returns the token's status at now.
func (r TokenRecord) Status(now time.Time) TokenStatus {
	switch {
	case r.RevokedAt != nil:
		return TokenRevoked
	case r.ExpiresAt == nil:
		return TokenActive
	case now.Before(*r.ExpiresAt):
		return TokenInGrace
	default:
		return TokenExpired
	}
}

// Token returns one of a tenant's tokens.
func (s *Store) Token(ctx context.Context, tenantID, tokenID string) (TokenRecord, error) {
	var rec TokenRecord
	err := sqlx.GetContext(ctx, s.db, &rec, `
		SELECT id, tenant_id, hint, created_at, expires_at, revoked_at, last_used_at
		FROM scim_tokens WHERE tenant_id = $1 AND id = $2`, tenantID, tokenID)
	if err != nil {
		return TokenRecord{}, fmt.Errorf("get token: %w", database.Translate(err))
	}
	return rec, nil
}

// HasActiveToken reports whether any of the tenant's tokens authenticates
// now, counting tokens in their grace period.
func (s *Store) HasActiveToken(ctx context.Context, tenantID string) (bool, error) {
	var ok bool
	err := sqlx.GetContext(ctx, s.db, &ok, `
		SELECT EXISTS (SELECT 1 FROM scim_tokens
		               WHERE tenant_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))`, tenantID)
	if err != nil {
		return false, fmt.Errorf("check tokens: %w", database.Translate(err))
	}
	return ok, nil
}

// RevokeAllTokens ends every token of the tenant that still works, voids
// their unrevealed deliveries and returns the revoked tokens.
func (s *Store) RevokeAllTokens(ctx context.Context, tenantID string) ([]TokenRecord, error) {
	out := []TokenRecord{}
	err := sqlx.SelectContext(ctx, s.db, &out, `
		UPDATE scim_tokens SET revoked_at = now()
		WHERE tenant_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
		RETURNING id, tenant_id, hint, created_at, expires_at, revoked_at, last_used_at`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("revoke tokens: %w", database.Translate(err))
	}
	for _, rec := range out {
		if err := s.voidTokenDeliveries(ctx, tenantID, rec.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) voidTokenDeliveries(ctx context.Context, tenantID, tokenID string) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE token_deliveries SET voided_at = now(), key_id = NULL, data_key = NULL, ciphertext = NULL
		WHERE tenant_id = $1 AND token_id = $2 AND revealed_at IS NULL AND voided_at IS NULL`, tenantID, tokenID)
	if err != nil {
		return fmt.Errorf("void token deliveries: %w", database.Translate(err))
	}
	return nil
}

// Deliveries lists a tenant's most recent token deliveries, newest first.
func (s *Store) Deliveries(ctx context.Context, tenantID string, limit int) ([]Delivery, error) {
	out := []Delivery{}
	err := sqlx.SelectContext(ctx, s.db, &out, `
		SELECT id, tenant_id, token_id, created_at, expires_at, revealed_at, voided_at
		FROM token_deliveries WHERE tenant_id = $1 ORDER BY created_at DESC, id LIMIT $2`, tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", database.Translate(err))
	}
	return out, nil
}

// ErrNothingToResend means the tenant has no delivery that can still be
// revealed, so re-sending needs a new token instead.
var ErrNothingToResend = fmt.Errorf("no unrevealed delivery to re-send: %w", database.ErrNotFound)

// ResendDelivery replaces the tenant's unrevealed delivery with a new one
// for the same token and returns the new link secret. The earlier link
// stops working. A delivery that was revealed, voided or expired has no
// plaintext left, so it is ErrNothingToResend.
func (s *Store) ResendDelivery(ctx context.Context, ring *secrets.Keyring, tenantID string, ttl time.Duration) (Delivery, secrets.LinkSecret, error) {
	var row struct {
		Delivery
		KeyID      string `db:"key_id"`
		DataKey    []byte `db:"data_key"`
		Ciphertext []byte `db:"ciphertext"`
	}
	err := sqlx.GetContext(ctx, s.db, &row, `
		SELECT id, tenant_id, token_id, created_at, expires_at, revealed_at, voided_at, key_id, data_key, ciphertext
		FROM token_deliveries
		WHERE tenant_id = $1 AND revealed_at IS NULL AND voided_at IS NULL AND expires_at > now() AND ciphertext IS NOT NULL
		ORDER BY created_at DESC LIMIT 1
		FOR UPDATE`, tenantID)
	if err != nil {
		err = database.Translate(err)
		if database.IsNotFound(err) {
			return Delivery{}, "", ErrNothingToResend
		}
		return Delivery{}, "", fmt.Errorf("find delivery to re-send: %w", err)
	}

	plain, err := ring.Open(secrets.Sealed{KeyID: row.KeyID, DataKey: row.DataKey, Ciphertext: row.Ciphertext}, []byte(row.ID))
	if err != nil {
		return Delivery{}, "", fmt.Errorf("open delivery: %w", err)
	}
	return s.CreateDelivery(ctx, ring, tenantID, row.TokenID, secrets.Token(plain), ttl)
}

package tenants

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// DefaultDeliveryTTL is how long a token delivery can be revealed.
const DefaultDeliveryTTL = 72 * time.Hour

// Delivery errors that the reveal page explains to the contact.
var (
	ErrAlreadyRevealed = errors.New("this token was already revealed")
	ErrDeliveryExpired = errors.New("this link has expired")
	ErrDeliveryVoided  = errors.New("this link was replaced by a newer one")
)

// Delivery is a one-time reveal of a token's plaintext, without the sealed data.
type Delivery struct {
	ID         string     `db:"id"`
	TenantID   string     `db:"tenant_id"`
	TokenID    string     `db:"token_id"`
	CreatedAt  time.Time  `db:"created_at"`
	ExpiresAt  time.Time  `db:"expires_at"`
	RevealedAt *time.Time `db:"revealed_at"`
	VoidedAt   *time.Time `db:"voided_at"`
}

// CreateDelivery seals token under the keyring's current master key and
// stores it for one reveal. Earlier unrevealed deliveries of the tenant are
// voided and erased. It returns the secret for the reveal link.
func (s *Store) CreateDelivery(ctx context.Context, ring *secrets.Keyring, tenantID, tokenID string, token secrets.Token, ttl time.Duration) (Delivery, secrets.LinkSecret, error) {
	if _, err := s.db.ExecContext(ctx, `
		UPDATE token_deliveries SET voided_at = now(), key_id = NULL, data_key = NULL, ciphertext = NULL
		WHERE tenant_id = $1 AND revealed_at IS NULL AND voided_at IS NULL`, tenantID); err != nil {
		return Delivery{}, "", fmt.Errorf("void earlier deliveries: %w", database.Translate(err))
	}

	link := secrets.NewLinkSecret()
	var d Delivery
	err := sqlx.GetContext(ctx, s.db, &d, `
		INSERT INTO token_deliveries (tenant_id, token_id, link_hash, expires_at)
		VALUES ($1, $2, $3, now() + make_interval(secs => $4))
		RETURNING id, tenant_id, token_id, created_at, expires_at, revealed_at, voided_at`,
		tenantID, tokenID, link.Hash(), ttl.Seconds())
	if err != nil {
		return Delivery{}, "", fmt.Errorf("create delivery: %w", database.Translate(err))
	}

	sealed, err := ring.Seal([]byte(token.Reveal()), []byte(d.ID))
	if err != nil {
		return Delivery{}, "", fmt.Errorf("seal token: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `
		UPDATE token_deliveries SET key_id = $2, data_key = $3, ciphertext = $4 WHERE id = $1`,
		d.ID, sealed.KeyID, sealed.DataKey, sealed.Ciphertext); err != nil {
		return Delivery{}, "", fmt.Errorf("store sealed token: %w", database.Translate(err))
	}
	return d, link, nil
}

// DeliveryByLink returns the delivery a reveal link points to, without
// revealing it, so the page can say whether it can still be revealed.
func (s *Store) DeliveryByLink(ctx context.Context, link secrets.LinkSecret) (Delivery, error) {
	var d Delivery
	err := sqlx.GetContext(ctx, s.db, &d, `
		SELECT id, tenant_id, token_id, created_at, expires_at, revealed_at, voided_at
		FROM token_deliveries WHERE link_hash = $1`, link.Hash())
	if err != nil {
		return Delivery{}, fmt.Errorf("get delivery: %w", database.Translate(err))
	}
	return d, nil
}

// RevealDelivery opens the delivery once and erases its ciphertext in the
// same statement, so two concurrent reveals cannot both succeed.
func (s *Store) RevealDelivery(ctx context.Context, ring *secrets.Keyring, link secrets.LinkSecret) (Delivery, secrets.Token, error) {
	var row struct {
		Delivery
		KeyID      string `db:"key_id"`
		DataKey    []byte `db:"data_key"`
		Ciphertext []byte `db:"ciphertext"`
	}
	err := sqlx.GetContext(ctx, s.db, &row, `
		UPDATE token_deliveries d SET revealed_at = now(), key_id = NULL, data_key = NULL, ciphertext = NULL
		FROM (SELECT id, key_id, data_key, ciphertext FROM token_deliveries WHERE link_hash = $1 FOR UPDATE) old
		WHERE d.id = old.id AND d.revealed_at IS NULL AND d.voided_at IS NULL AND d.expires_at > now() AND old.ciphertext IS NOT NULL
		RETURNING d.id, d.tenant_id, d.token_id, d.created_at, d.expires_at, d.revealed_at, d.voided_at,
		          old.key_id, old.data_key, old.ciphertext`, link.Hash())
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, "", s.whyNotRevealable(ctx, link)
	}
	if err != nil {
		return Delivery{}, "", fmt.Errorf("reveal delivery: %w", database.Translate(err))
	}

	plain, err := ring.Open(secrets.Sealed{KeyID: row.KeyID, DataKey: row.DataKey, Ciphertext: row.Ciphertext}, []byte(row.ID))
	if err != nil {
		return Delivery{}, "", fmt.Errorf("open delivery: %w", err)
	}
	return row.Delivery, secrets.Token(plain), nil
}

func (s *Store) whyNotRevealable(ctx context.Context, link secrets.LinkSecret) error {
	d, err := s.DeliveryByLink(ctx, link)
	switch {
	case err != nil:
		return err
	case d.RevealedAt != nil:
		return ErrAlreadyRevealed
	case d.VoidedAt != nil:
		return ErrDeliveryVoided
	default:
		return ErrDeliveryExpired
	}
}

// EraseExpiredDeliveries erases the ciphertext of deliveries past their
// expiry and returns how many it erased.
func (s *Store) EraseExpiredDeliveries(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, `
		UPDATE token_deliveries SET key_id = NULL, data_key = NULL, ciphertext = NULL
		WHERE expires_at <= now() AND ciphertext IS NOT NULL`)
	if err != nil {
		return 0, fmt.Errorf("erase expired deliveries: %w", database.Translate(err))
	}
	return res.RowsAffected()
}

func stringArray(values []string) any { return pq.StringArray(values) }

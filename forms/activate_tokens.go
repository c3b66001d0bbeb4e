package forms

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/mail"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// Token lifecycle errors that pages explain.
var (
	ErrNoContact = errors.New("the tenant has no IT contact email to deliver the token to")
	ErrSCIMOff   = errors.New("SCIM is off for this tenant")
)

// deliverToken seals token into a one-time delivery, emails the contact
// its reveal link and audits the delivery, in tx. The plaintext exists
// only sealed in the delivery from then on.
func (w *Workflow) deliverToken(ctx context.Context, tx *sqlx.Tx, actor Actor, t tenants.Tenant, contact tenants.Contact,
	rec tenants.TokenRecord, token secrets.Token, requestID string) (tenants.Delivery, error) {
	if contact.Email == "" {
		return tenants.Delivery{}, ErrNoContact
	}
	store := tenants.NewStore(tx)
	d, link, err := store.CreateDelivery(ctx, w.cfg.Keyring, t.ID, rec.ID, token, w.cfg.DeliveryTTL)
	if err != nil {
		return tenants.Delivery{}, err
	}
	if err := w.mailDelivery(ctx, tx, t, contact, d, link); err != nil {
		return tenants.Delivery{}, err
	}
	err = actor.audit(ctx, tx, "token.deliver", t.ID, requestID, map[string]any{
		"token_id": rec.ID, "hint": rec.Hint, "delivery_id": d.ID, "to": contact.Email, "expires_at": d.ExpiresAt,
	})
	return d, err
}

func (w *Workflow) mailDelivery(ctx context.Context, tx *sqlx.Tx, t tenants.Tenant, contact tenants.Contact, d tenants.Delivery, link secrets.LinkSecret) error {
	msg, err := mail.TokenDelivery(contact.Email, contact.Name, t.Name, t.Slug, w.RevealURL(link), d.ExpiresAt)
	if err != nil {
		return fmt.Errorf("build token mail: %w", err)
	}
	_, err = mail.Enqueue(ctx, tx, msg)
	return err
}

// tenantForTokens loads a tenant with SCIM on and its contact, in tx.
func tenantForTokens(ctx context.Context, tx *sqlx.Tx, tenantID string) (tenants.Tenant, tenants.Contact, error) {
	store := tenants.NewStore(tx)
	var t tenants.Tenant
	err := sqlx.GetContext(ctx, tx, &t, `
		SELECT id, slug, name, product, scim_enabled, require_sso, autoprovision, idp_initiated, allow_sha1, created_at, updated_at
		FROM tenants WHERE id = $1 FOR UPDATE`, tenantID)
	if err != nil {
		return tenants.Tenant{}, tenants.Contact{}, fmt.Errorf("get tenant: %w", database.Translate(err))
	}
	if !t.SCIM {
		return tenants.Tenant{}, tenants.Contact{}, ErrSCIMOff
	}
	contact, err := store.Contact(ctx, tenantID)
	if err != nil {
		return tenants.Tenant{}, tenants.Contact{}, err
	}
	if contact.Email == "" {
		return tenants.Tenant{}, tenants.Contact{}, ErrNoContact
	}
	return t, contact, nil
}

// IssueToken issues an additional SCIM token for the tenant and delivers
// it to the tenant's contact. The tenant's other tokens keep working.
func (w *Workflow) IssueToken(ctx context.Context, actor Actor, tenantID string) (tenants.TokenRecord, error) {
	return w.newToken(ctx, actor, tenantID, "token.issue", nil,
		func(store *tenants.Store) (secrets.Token, tenants.TokenRecord, error) {
			return store.IssueToken(ctx, tenantID)
		})
}

// RotateToken issues a new token, delivers it to the tenant's contact and
// lets the tenant's other working tokens expire after the rotation grace
// period, so the IdP keeps provisioning until it has the new token.
func (w *Workflow) RotateToken(ctx context.Context, actor Actor, tenantID string) (tenants.TokenRecord, error) {
	detail := map[string]any{"grace_seconds": int(w.cfg.RotationGrace.Seconds())}
	return w.newToken(ctx, actor, tenantID, "token.rotate", detail,
		func(store *tenants.Store) (secrets.Token, tenants.TokenRecord, error) {
			return store.RotateTokens(ctx, tenantID, w.cfg.RotationGrace)
		})
}

// newToken makes a token with create, audits it as action with detail
// added to the token's ID and hint, and delivers it to the tenant's
// contact, all in one transaction.
func (w *Workflow) newToken(ctx context.Context, actor Actor, tenantID, action string, detail map[string]any,
	create func(*tenants.Store) (secrets.Token, tenants.TokenRecord, error)) (tenants.TokenRecord, error) {
	var rec tenants.TokenRecord
	err := database.WithTx(ctx, w.cfg.DB, func(tx *sqlx.Tx) error {
		t, contact, err := tenantForTokens(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		var token secrets.Token
		if token, rec, err = create(tenants.NewStore(tx)); err != nil {
			return err
		}

		audit := map[string]any{"token_id": rec.ID, "hint": rec.Hint}
		maps.Copy(audit, detail)
		if err := actor.audit(ctx, tx, action, tenantID, "", audit); err != nil {
			return err
		}
		_, err = w.deliverToken(ctx, tx, actor, t, contact, rec, token, "")
		return err
	})
	return rec, err
}

// ResendToken replaces the tenant's unrevealed delivery with a new link to
// the same token, mailed to the contact; the earlier link stops working.
// Without an unrevealed delivery it returns tenants.ErrNothingToResend.
func (w *Workflow) ResendToken(ctx context.Context, actor Actor, tenantID string) (tenants.Delivery, error) {
	var d tenants.Delivery
	err := database.WithTx(ctx, w.cfg.DB, func(tx *sqlx.Tx) error {
		t, contact, err := tenantForTokens(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		var link secrets.LinkSecret
		d, link, err = tenants.NewStore(tx).ResendDelivery(ctx, w.cfg.Keyring, tenantID, w.cfg.DeliveryTTL)
		if err != nil {
			return err
		}
		if err := w.mailDelivery(ctx, tx, t, contact, d, link); err != nil {
			return err
		}
		return actor.audit(ctx, tx, "token.resend", tenantID, "", map[string]any{
			"token_id": d.TokenID, "delivery_id": d.ID, "to": contact.Email, "expires_at": d.ExpiresAt,
		})
	})
	return d, err
}

// RevokeToken ends one token at once, with its unrevealed deliveries.
func (w *Workflow) RevokeToken(ctx context.Context, actor Actor, tenantID, tokenID string) error {
	return database.WithTx(ctx, w.cfg.DB, func(tx *sqlx.Tx) error {
		store := tenants.NewStore(tx)
		rec, err := store.Token(ctx, tenantID, tokenID)
		if err != nil {
			return err
		}
		if err := store.RevokeToken(ctx, tenantID, tokenID); err != nil {
			return err
		}
		return actor.audit(ctx, tx, "token.revoke", tenantID, "", map[string]any{"token_id": rec.ID, "hint": rec.Hint})
	})
}

// RevokeAllTokens ends every working token of the tenant at once and
// returns how many it ended.
func (w *Workflow) RevokeAllTokens(ctx context.Context, actor Actor, tenantID string) (int, error) {
	var n int
	err := database.WithTx(ctx, w.cfg.DB, func(tx *sqlx.Tx) error {
		revoked, err := tenants.NewStore(tx).RevokeAllTokens(ctx, tenantID)
		if err != nil {
			return err
		}
		n = len(revoked)
		for _, rec := range revoked {
			detail := map[string]any{"token_id": rec.ID, "hint": rec.Hint, "all": true}
			if err := actor.audit(ctx, tx, "token.revoke", tenantID, "", detail); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// RevealToken opens a delivery once and audits the reveal in the same
// transaction, so a reveal that cannot be audited reveals nothing. It
// returns tenants.ErrAlreadyRevealed, ErrDeliveryExpired or
// ErrDeliveryVoided when the delivery cannot be revealed, and
// database.ErrNotFound for an unknown link.
func (w *Workflow) RevealToken(ctx context.Context, actor Actor, link secrets.LinkSecret) (tenants.Delivery, secrets.Token, error) {
	var d tenants.Delivery
	var token secrets.Token
	err := database.WithTx(ctx, w.cfg.DB, func(tx *sqlx.Tx) error {
		var err error
		d, token, err = tenants.NewStore(tx).RevealDelivery(ctx, w.cfg.Keyring, link)
		if err != nil {
			return err
		}
		return actor.audit(ctx, tx, "token.reveal", d.TenantID, "", map[string]any{"token_id": d.TokenID, "delivery_id": d.ID})
	})
	if err != nil {
		return tenants.Delivery{}, "", err
	}
	return d, token, nil
}

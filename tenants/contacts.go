package tenants

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
)

// Contact is the IT contact of a tenant: the person who receives its token
// deliveries and certificate expiry notices.
type Contact struct {
	Name  string `db:"contact_name"`
	Email string `db:"contact_email"` // empty when nobody was recorded
}

// Contact returns a tenant's IT contact.
func (s *Store) Contact(ctx context.Context, tenantID string) (Contact, error) {
	var c Contact
	err := sqlx.GetContext(ctx, s.db, &c, `SELECT contact_name, contact_email FROM tenants WHERE id = $1`, tenantID)
	if err != nil {
		return Contact{}, fmt.Errorf("get tenant contact: %w", database.Translate(err))
	}
	return c, nil
}

// SetContact replaces a tenant's IT contact.
func (s *Store) SetContact(ctx context.Context, tenantID string, c Contact) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE tenants SET contact_name = $2, contact_email = $3, updated_at = now() WHERE id = $1`,
		tenantID, c.Name, c.Email)
	if err != nil {
		return fmt.Errorf("set tenant contact: %w", database.Translate(err))
	}
	return requireOneRow(res, "set tenant contact")
}

// Update replaces a tenant's name, product and settings. The slug never
// changes, because IdPs and users hold URLs that contain it.
func (s *Store) Update(ctx context.Context, t Tenant) (Tenant, error) {
	var out Tenant
	err := sqlx.GetContext(ctx, s.db, &out, `
		UPDATE tenants SET name = $2, product = $3, scim_enabled = $4, require_sso = $5, autoprovision = $6,
		       idp_initiated = $7, allow_sha1 = $8, updated_at = now()
		WHERE id = $1
		RETURNING `+tenantColumns,
		t.ID, t.Name, t.Product, t.SCIM, t.RequireSSO, t.Autoprovision, t.IdPInitiated, t.AllowSHA1)
	if err != nil {
		return Tenant{}, fmt.Errorf("update tenant %s: %w", t.Slug, database.Translate(err))
	}
	return out, nil
}

// UpdateSettingsIfUnchanged replaces a tenant's settings only when the
// tenant was last changed at seen (its UpdatedAt as the caller read it).
// A tenant changed since then is database.ErrConflict, so two people
// editing the settings at once do not silently overwrite each other.
func (s *Store) UpdateSettingsIfUnchanged(ctx context.Context, tenantID string, set Settings, seen time.Time) (Tenant, error) {
	var out Tenant
	err := sqlx.GetContext(ctx, s.db, &out, `
		UPDATE tenants SET scim_enabled = $2, require_sso = $3, autoprovision = $4, idp_initiated = $5, allow_sha1 = $6,
		       updated_at = now()
		WHERE id = $1 AND updated_at = $7
		RETURNING `+tenantColumns,
		tenantID, set.SCIM, set.RequireSSO, set.Autoprovision, set.IdPInitiated, set.AllowSHA1, seen)
	if err == nil {
		return out, nil
	}
	err = database.Translate(err)
	if database.IsNotFound(err) {
		if _, getErr := s.ByID(ctx, tenantID); getErr != nil {
			return Tenant{}, getErr
		}
		return Tenant{}, fmt.Errorf("update settings: %w", database.ErrConflict)
	}
	return Tenant{}, fmt.Errorf("update settings: %w", err)
}

// Package tenants stores what the SCIM server and the portal share about a
// customer company: the tenant and its settings, its SAML connection, its
// users, groups and drop locations, its SCIM tokens and their one-time
// deliveries, and the audit trail.
//
// Every query that reads or writes a tenant's data takes the tenant ID and
// puts it in the WHERE clause, so another tenant's record is simply
// database.ErrNotFound.
package tenants

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
)

// Product is the product a tenant buys.
type Product string

// The products gatehouse onboards.
const (
	MealProgram Product = "meal_program"
	Marketplace Product = "marketplace"
)

// Valid reports whether p is a known product.
func (p Product) Valid() bool { return p == MealProgram || p == Marketplace }

// Title returns the product's name as people see it.
func (p Product) Title() string {
	switch p {
	case MealProgram:
		return "Meal Program"
	case Marketplace:
		return "Marketplace"
	}
	return string(p)
}

// Settings are the switches a tenant's IT contact requests and staff approve.
type Settings struct {
	SCIM          bool `db:"scim_enabled"`
	RequireSSO    bool `db:"require_sso"`
	Autoprovision bool `db:"autoprovision"`
	IdPInitiated  bool `db:"idp_initiated"`
	AllowSHA1     bool `db:"allow_sha1"`
}

// Tenant is a customer company on one product.
type Tenant struct {
	ID      string  `db:"id"`
	Slug    string  `db:"slug"`
	Name    string  `db:"name"`
	Product Product `db:"product"`
	Settings
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// ValidSlug reports whether s can name a tenant in URLs: 2 to 63 lowercase
// letters, digits and hyphens, not starting with a hyphen.
func ValidSlug(s string) bool { return slugPattern.MatchString(s) }

// Store reads and writes tenants and everything that belongs to them.
type Store struct {
	db sqlx.ExtContext
}

// NewStore returns a store on a pool or a transaction.
func NewStore(db sqlx.ExtContext) *Store { return &Store{db: db} }

// WithTx returns a store whose queries run in tx.
func (s *Store) WithTx(tx *sqlx.Tx) *Store { return &Store{db: tx} }

const tenantColumns = `id, slug, name, product, scim_enabled, require_sso, autoprovision, idp_initiated, allow_sha1, created_at, updated_at`

// Create inserts a tenant. A taken slug is database.ErrConflict.
func (s *Store) Create(ctx context.Context, t Tenant) (Tenant, error) {
	if !ValidSlug(t.Slug) {
		return Tenant{}, fmt.Errorf("create tenant: invalid slug %q", t.Slug)
	}
	var out Tenant
	err := sqlx.GetContext(ctx, s.db, &out, `
		INSERT INTO tenants (slug, name, product, scim_enabled, require_sso, autoprovision, idp_initiated, allow_sha1)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		RETURNING `+tenantColumns,
		t.Slug, t.Name, t.Product, t.SCIM, t.RequireSSO, t.Autoprovision, t.IdPInitiated, t.AllowSHA1)
	if err != nil {
		return Tenant{}, fmt.Errorf("create tenant %s: %w", t.Slug, database.Translate(err))
	}
	return out, nil
}

// BySlug returns the tenant with that slug.
func (s *Store) BySlug(ctx context.Context, slug string) (Tenant, error) {
	var t Tenant
	err := sqlx.GetContext(ctx, s.db, &t, `SELECT `+tenantColumns+` FROM tenants WHERE slug = $1`, slug)
	if err != nil {
		return Tenant{}, fmt.Errorf("get tenant %s: %w", slug, database.Translate(err))
	}
	return t, nil
}

// ByID returns the tenant with that ID.
func (s *Store) ByID(ctx context.Context, id string) (Tenant, error) {
	var t Tenant
	err := sqlx.GetContext(ctx, s.db, &t, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id)
	if err != nil {
		return Tenant{}, fmt.Errorf("get tenant %s: %w", id, database.Translate(err))
	}
	return t, nil
}

// List returns every tenant by name.
func (s *Store) List(ctx context.Context) ([]Tenant, error) {
	var out []Tenant
	err := sqlx.SelectContext(ctx, s.db, &out, `SELECT `+tenantColumns+` FROM tenants ORDER BY name, slug`)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", database.Translate(err))
	}
	return out, nil
}

// UpdateSettings replaces a tenant's settings.
func (s *Store) UpdateSettings(ctx context.Context, tenantID string, set Settings) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE tenants SET scim_enabled = $2, require_sso = $3, autoprovision = $4, idp_initiated = $5, allow_sha1 = $6, updated_at = now()
		WHERE id = $1`, tenantID, set.SCIM, set.RequireSSO, set.Autoprovision, set.IdPInitiated, set.AllowSHA1)
	if err != nil {
		return fmt.Errorf("update settings: %w", database.Translate(err))
	}
	return requireOneRow(res, "update settings")
}

package tenants

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
)

// DropLocation is a place where a tenant's deliveries are dropped off. Each
// user picks one at first sign-in.
type DropLocation struct {
	ID        string    `db:"id"`
	TenantID  string    `db:"tenant_id"`
	Name      string    `db:"name"`
	CreatedAt time.Time `db:"created_at"`
}

// MaxDropLocationName is the longest drop location name accepted, in characters.
const MaxDropLocationName = 200

// ErrInvalidDropLocation means a drop location name is empty or too long.
var ErrInvalidDropLocation = fmt.Errorf("a drop location name must be 1 to %d characters", MaxDropLocationName)

// DropLocations lists a tenant's drop locations by name.
func (s *Store) DropLocations(ctx context.Context, tenantID string) ([]DropLocation, error) {
	out := []DropLocation{}
	err := sqlx.SelectContext(ctx, s.db, &out, `
		SELECT id, tenant_id, name, created_at FROM drop_locations WHERE tenant_id = $1 ORDER BY lower(name), id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list drop locations: %w", database.Translate(err))
	}
	return out, nil
}

// AddDropLocation adds a drop location. A name the tenant already has is
// database.ErrConflict; an empty or overlong one is ErrInvalidDropLocation.
func (s *Store) AddDropLocation(ctx context.Context, tenantID, name string) (DropLocation, error) {
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > MaxDropLocationName {
		return DropLocation{}, ErrInvalidDropLocation
	}
	var d DropLocation
	err := sqlx.GetContext(ctx, s.db, &d, `
		INSERT INTO drop_locations (tenant_id, name) VALUES ($1, $2) RETURNING id, tenant_id, name, created_at`,
		tenantID, name)
	if err != nil {
		return DropLocation{}, fmt.Errorf("add drop location: %w", database.Translate(err))
	}
	return d, nil
}

// RemoveDropLocation deletes a tenant's drop location and returns it. Users
// who had picked it are asked again at their next sign-in, because their
// drop_location_id becomes NULL.
func (s *Store) RemoveDropLocation(ctx context.Context, tenantID, id string) (DropLocation, error) {
	var d DropLocation
	err := sqlx.GetContext(ctx, s.db, &d, `
		DELETE FROM drop_locations WHERE tenant_id = $1 AND id = $2 RETURNING id, tenant_id, name, created_at`,
		tenantID, id)
	if err != nil {
		return DropLocation{}, fmt.Errorf("remove drop location: %w", database.Translate(err))
	}
	return d, nil
}

// DropLocationByID returns one of a tenant's drop locations.
func (s *Store) DropLocationByID(ctx context.Context, tenantID, id string) (DropLocation, error) {
	var d DropLocation
	err := sqlx.GetContext(ctx, s.db, &d, `
		SELECT id, tenant_id, name, created_at FROM drop_locations WHERE tenant_id = $1 AND id = $2`, tenantID, id)
	if err != nil {
		return DropLocation{}, fmt.Errorf("get drop location: %w", database.Translate(err))
	}
	return d, nil
}

// HasDropLocations reports whether a tenant has any drop location for its
// users to pick.
func (s *Store) HasDropLocations(ctx context.Context, tenantID string) (bool, error) {
	var ok bool
	err := s.db.QueryRowxContext(ctx, `SELECT EXISTS (SELECT 1 FROM drop_locations WHERE tenant_id = $1)`, tenantID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("check drop locations: %w", database.Translate(err))
	}
	return ok, nil
}

// SetUserDropLocation records the drop location a user picked. A drop
// location of another tenant, like an unknown one, is database.ErrNotFound.
func (s *Store) SetUserDropLocation(ctx context.Context, tenantID, userID, dropLocationID string) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE users SET drop_location_id = $3, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL
		  AND EXISTS (SELECT 1 FROM drop_locations WHERE tenant_id = $1 AND id = $3)`, tenantID, userID, dropLocationID)
	if err != nil {
		return fmt.Errorf("set drop location: %w", database.Translate(err))
	}
	return requireOneRow(res, "set drop location")
}

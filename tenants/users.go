package tenants

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
)

// User is a tenant's user. SCIM writes the identity attributes; the user
// picks a drop location; sign-in reads both.
type User struct {
	ID          string  `db:"id"`
	TenantID    string  `db:"tenant_id"`
	UserName    string  `db:"user_name"`
	ExternalID  *string `db:"external_id"`
	GivenName   string  `db:"given_name"`
	FamilyName  string  `db:"family_name"`
	DisplayName string  `db:"display_name"`
	Email       string  `db:"email"`
	Active      bool    `db:"active"`
	SCIMManaged bool    `db:"scim_managed"`
	// Attributes holds SCIM attributes without a column of their own, as SCIM JSON.
	Attributes     json.RawMessage `db:"attributes"`
	PasswordHash   *string         `db:"password_hash"`
	DropLocationID *string         `db:"drop_location_id"`
	Version        int             `db:"version"`
	CreatedAt      time.Time       `db:"created_at"`
	UpdatedAt      time.Time       `db:"updated_at"`
	DeletedAt      *time.Time      `db:"deleted_at"`
}

// CanSignIn reports whether the user may start a session.
func (u User) CanSignIn() bool { return u.Active && u.DeletedAt == nil }

// UserColumns lists the users table's columns in User's order, for queries
// in other packages that select whole users.
const UserColumns = `id, tenant_id, user_name, external_id, given_name, family_name, display_name, email, active,
	scim_managed, attributes, password_hash, drop_location_id, version, created_at, updated_at, deleted_at`

// UserByUserName finds a tenant's user by userName, ignoring case. Users
// deleted over SCIM are not found.
func (s *Store) UserByUserName(ctx context.Context, tenantID, userName string) (User, error) {
	var u User
	err := sqlx.GetContext(ctx, s.db, &u, `
		SELECT `+UserColumns+` FROM users
		WHERE tenant_id = $1 AND lower(user_name) = lower($2) AND deleted_at IS NULL`, tenantID, userName)
	if err != nil {
		return User{}, fmt.Errorf("get user: %w", database.Translate(err))
	}
	return u, nil
}

// UserByID returns a tenant's user. Users deleted over SCIM are not found.
func (s *Store) UserByID(ctx context.Context, tenantID, userID string) (User, error) {
	var u User
	err := sqlx.GetContext(ctx, s.db, &u, `
		SELECT `+UserColumns+` FROM users WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`, tenantID, userID)
	if err != nil {
		return User{}, fmt.Errorf("get user: %w", database.Translate(err))
	}
	return u, nil
}

// EndUserSessions deletes every session of a user, so a deactivated user
// is signed out at once.
func (s *Store) EndUserSessions(ctx context.Context, tenantID, userID string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2`, tenantID, userID)
	if err != nil {
		return fmt.Errorf("end user sessions: %w", database.Translate(err))
	}
	return nil
}

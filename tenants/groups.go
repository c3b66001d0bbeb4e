package tenants

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/gatehouse-dev/gatehouse/database"
)

// Group is a group that a tenant's IdP pushed over SCIM.
type Group struct {
	ID          string    `db:"id"`
	TenantID    string    `db:"tenant_id"`
	DisplayName string    `db:"display_name"`
	ExternalID  *string   `db:"external_id"`
	Version     int       `db:"version"`
	CreatedAt   time.Time `db:"created_at"`
	UpdatedAt   time.Time `db:"updated_at"`
}

// GroupColumns lists the groups table's columns in Group's order.
const GroupColumns = `id, tenant_id, display_name, external_id, version, created_at, updated_at`

// GroupMember is a user in a group, with the names SCIM shows beside the ID.
type GroupMember struct {
	UserID      string `db:"user_id"`
	UserName    string `db:"user_name"`
	DisplayName string `db:"display_name"`
}

// GroupRef names a group that a user belongs to.
type GroupRef struct {
	GroupID     string `db:"group_id"`
	DisplayName string `db:"display_name"`
}

// UserGroupsSQL returns an SQL expression for the groups of the user whose
// row is named alias, as a text array ordered by name: each element is the
// group's ID, a space and its display name. GroupRefs scans the column.
// PostgreSQL builds the array for less than JSON, most of all for a user
// in no group, where the subquery finds no row.
func UserGroupsSQL(alias string) string {
	return `ARRAY(SELECT g.id::text || ' ' || g.display_name FROM group_members gm JOIN groups g ON g.id = gm.group_id
		WHERE gm.tenant_id = ` + alias + `.tenant_id AND gm.user_id = ` + alias + `.id
		ORDER BY lower(g.display_name), g.id)`
}

// GroupRefs is the column UserGroupsSQL selects.
type GroupRefs []GroupRef

// Scan reads a column that UserGroupsSQL selected.
func (refs *GroupRefs) Scan(src any) error {
	var elems pq.StringArray
	if err := elems.Scan(src); err != nil {
		return fmt.Errorf("scan groups: %w", err)
	}
	out := make(GroupRefs, 0, len(elems))
	for _, e := range elems {
		id, name, ok := strings.Cut(e, " ")
		if !ok {
			return fmt.Errorf("scan groups: element %q has no display name", e)
		}
		out = append(out, GroupRef{GroupID: id, DisplayName: name})
	}
	*refs = out
	return nil
}

// ErrUnknownMember means a member ID is not a user of the tenant, or the
// user was deleted.
var ErrUnknownMember = errors.New("member is not a user of this tenant")

// CreateGroup inserts a group. A display name that another group of the
// tenant has, ignoring case, is database.ErrConflict. A failed condition
// returns its error (see Condition).
func (s *Store) CreateGroup(ctx context.Context, tenantID, displayName string, externalID *string, c Condition) (Group, error) {
	cond, args := c.sql([]any{tenantID, displayName, externalID}, "0")
	var g Group
	err := sqlx.GetContext(ctx, s.db, &g, `
		INSERT INTO groups (tenant_id, display_name, external_id)
		SELECT $1, $2, $3 WHERE true`+cond+`
		RETURNING `+GroupColumns, args...)
	if database.IsNotFound(database.Translate(err)) {
		return Group{}, fmt.Errorf("create group: %w", s.explainOr(ctx, "groups", tenantID, "", c))
	}
	if err != nil {
		return Group{}, fmt.Errorf("create group: %w", database.Translate(err))
	}
	return g, nil
}

// LockGroup returns a group and locks it until the transaction ends, so
// the caller can read its members, change them and save it without a
// concurrent change in between. Run it in a transaction (WithTx).
func (s *Store) LockGroup(ctx context.Context, tenantID, groupID string, c Condition) (Group, error) {
	cond, args := c.sql([]any{tenantID, groupID}, "g.version")
	var g Group
	err := sqlx.GetContext(ctx, s.db, &g, `
		SELECT `+GroupColumns+` FROM groups g WHERE g.tenant_id = $1 AND g.id = $2`+cond+` FOR UPDATE OF g`, args...)
	if database.IsNotFound(database.Translate(err)) {
		return Group{}, fmt.Errorf("lock group: %w", s.explainOr(ctx, "groups", tenantID, groupID, c))
	}
	if err != nil {
		return Group{}, fmt.Errorf("lock group: %w", database.Translate(err))
	}
	return g, nil
}

// UpdateGroup saves a group's name and external ID and increments its
// version. Call it after LockGroup in the same transaction.
func (s *Store) UpdateGroup(ctx context.Context, tenantID, groupID, displayName string, externalID *string) (Group, error) {
	var g Group
	err := sqlx.GetContext(ctx, s.db, &g, `
		UPDATE groups SET display_name = $3, external_id = $4, version = version + 1, updated_at = now()
		WHERE tenant_id = $1 AND id = $2
		RETURNING `+GroupColumns, tenantID, groupID, displayName, externalID)
	if err != nil {
		return Group{}, fmt.Errorf("update group: %w", database.Translate(err))
	}
	return g, nil
}

// DeleteGroup deletes a group and its memberships.
func (s *Store) DeleteGroup(ctx context.Context, tenantID, groupID string, c Condition) error {
	cond, args := c.sql([]any{tenantID, groupID}, "g.version")
	var id string
	err := sqlx.GetContext(ctx, s.db, &id, `
		DELETE FROM groups g WHERE g.tenant_id = $1 AND g.id = $2`+cond+` RETURNING g.id`, args...)
	if database.IsNotFound(database.Translate(err)) {
		return fmt.Errorf("delete group: %w", s.explainOr(ctx, "groups", tenantID, groupID, c))
	}
	if err != nil {
		return fmt.Errorf("delete group: %w", database.Translate(err))
	}
	return nil
}

// GroupMembers lists a group's members that are not deleted, by userName.
func (s *Store) GroupMembers(ctx context.Context, tenantID, groupID string) ([]GroupMember, error) {
	var out []GroupMember
	err := sqlx.SelectContext(ctx, s.db, &out, `
		SELECT u.id AS user_id, u.user_name, u.display_name
		FROM group_members m JOIN users u ON u.id = m.user_id AND u.tenant_id = m.tenant_id
		WHERE m.tenant_id = $1 AND m.group_id = $2 AND u.deleted_at IS NULL
		ORDER BY lower(u.user_name), u.id`, tenantID, groupID)
	if err != nil {
		return nil, fmt.Errorf("list group members: %w", database.Translate(err))
	}
	return out, nil
}

// AddGroupMembers adds users to a group; members already in it stay. Every
// ID must be a UUID of a user of the tenant who is not deleted, or nothing
// is added and the error is ErrUnknownMember.
func (s *Store) AddGroupMembers(ctx context.Context, tenantID, groupID string, userIDs []string) error {
	if len(userIDs) == 0 {
		return nil
	}
	var known int
	err := sqlx.GetContext(ctx, s.db, &known, `
		WITH known AS (
			SELECT id FROM users WHERE tenant_id = $1 AND id = ANY($3::uuid[]) AND deleted_at IS NULL
		), added AS (
			INSERT INTO group_members (group_id, user_id, tenant_id)
			SELECT $2, id, $1 FROM known WHERE (SELECT count(*) FROM known) = cardinality(ARRAY(SELECT DISTINCT unnest($3::uuid[])))
			ON CONFLICT DO NOTHING
		)
		SELECT count(*) FROM known`, tenantID, groupID, stringArray(userIDs))
	if err != nil {
		return fmt.Errorf("add group members: %w", database.Translate(err))
	}
	if known != countDistinct(userIDs) {
		return fmt.Errorf("add group members: %w", ErrUnknownMember)
	}
	return nil
}

func countDistinct(values []string) int {
	seen := make(map[string]bool, len(values))
	for _, v := range values {
		seen[v] = true
	}
	return len(seen)
}

// RemoveGroupMembers removes users from a group; IDs that are not members
// are ignored.
func (s *Store) RemoveGroupMembers(ctx context.Context, tenantID, groupID string, userIDs []string) error {
	if len(userIDs) == 0 {
		return nil
	}
	_, err := s.db.ExecContext(ctx, `
		DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND user_id = ANY($3::uuid[])`,
		tenantID, groupID, stringArray(userIDs))
	if err != nil {
		return fmt.Errorf("remove group members: %w", database.Translate(err))
	}
	return nil
}

// UserGroups lists the groups a user belongs to, by name.
func (s *Store) UserGroups(ctx context.Context, tenantID, userID string) ([]GroupRef, error) {
	var out []GroupRef
	err := sqlx.SelectContext(ctx, s.db, &out, `
		SELECT g.id AS group_id, g.display_name
		FROM group_members m JOIN groups g ON g.id = m.group_id
		WHERE m.tenant_id = $1 AND m.user_id = $2
		ORDER BY lower(g.display_name), g.id`, tenantID, userID)
	if err != nil {
		return nil, fmt.Errorf("list user groups: %w", database.Translate(err))
	}
	return out, nil
}

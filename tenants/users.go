package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// Errors of the conditional user and group writes. A write that fails a
// Condition changes nothing.
var (
	// ErrStale means the record's version is no longer the one the caller read.
	ErrStale = errors.New("record changed since it was read")

	// ErrSettingsChanged means the tenant's autoprovision setting differs
	// from the one the caller expected; read the tenant again and retry.
	ErrSettingsChanged = errors.New("tenant settings changed")
)

// Condition makes a write apply only while some facts still hold, checked
// in the same statement as the write. The zero Condition always applies.
type Condition struct {
	// SCIMTokenID, when set, requires that SCIM token to be active and its
	// tenant to have SCIM on, so a revoked token cannot write once the
	// revocation has committed. Otherwise the write fails with ErrUnauthorized.
	SCIMTokenID string

	// Version, when non-zero, requires the record to have that version
	// (optimistic locking), or the write fails with ErrStale.
	Version int

	// Autoprovision, when set, requires the tenant's autoprovision setting
	// to equal it, or the write fails with ErrSettingsChanged.
	Autoprovision *bool
}

// SCIMTokenActiveSQL is a boolean SQL expression: the SCIM token whose ID is
// parameter tokenParam belongs to the tenant whose ID is parameter
// tenantParam, is neither revoked nor expired, and the tenant has SCIM on.
// Reads that must respect a revocation at once add it to their WHERE clause.
func SCIMTokenActiveSQL(tokenParam, tenantParam int) string {
	return fmt.Sprintf(`EXISTS (SELECT 1 FROM scim_tokens k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.id = $%d AND k.tenant_id = $%d AND k.revoked_at IS NULL
		AND (k.expires_at IS NULL OR k.expires_at > now()) AND t.scim_enabled)`, tokenParam, tenantParam)
}

// sql returns the condition's SQL, each clause starting with " AND ", for
// a statement whose tenant ID is $1 and that already has len(args)
// parameters. versionColumn is the qualified version column of the row
// written.
func (c Condition) sql(args []any, versionColumn string) (string, []any) {
	var b strings.Builder
	if c.SCIMTokenID != "" {
		args = append(args, c.SCIMTokenID)
		b.WriteString(" AND " + SCIMTokenActiveSQL(len(args), 1))
	}
	if c.Version != 0 {
		args = append(args, c.Version)
		fmt.Fprintf(&b, " AND %s = $%d", versionColumn, len(args))
	}
	if c.Autoprovision != nil {
		args = append(args, *c.Autoprovision)
		fmt.Fprintf(&b, " AND (SELECT autoprovision FROM tenants WHERE id = $1) = $%d", len(args))
	}
	return b.String(), args
}

// explain finds out which part of c failed after a conditional write on
// table (users or groups) matched no row: ErrUnauthorized,
// ErrSettingsChanged, database.ErrNotFound or ErrStale. It returns nil when
// every part holds.
func (s *Store) explain(ctx context.Context, table, tenantID, id string, c Condition) error {
	var row struct {
		TokenOK       bool `db:"token_ok"`
		Autoprovision bool `db:"autoprovision"`
		Version       *int `db:"version"`
	}
	tokenOK, version := "true", "NULL::integer"
	args := []any{tenantID}
	if c.SCIMTokenID != "" {
		args = append(args, c.SCIMTokenID)
		tokenOK = SCIMTokenActiveSQL(len(args), 1)
	}
	if id != "" {
		args = append(args, id)
		version = fmt.Sprintf("(SELECT version FROM %s WHERE tenant_id = $1 AND id = $%d%s)", table, len(args), deletedFilter(table))
	}
	query := `SELECT ` + tokenOK + ` AS token_ok, ` + version + ` AS version,
		coalesce((SELECT autoprovision FROM tenants WHERE id = $1), false) AS autoprovision`
	if err := sqlx.GetContext(ctx, s.db, &row, query, args...); err != nil {
		return fmt.Errorf("check write condition: %w", database.Translate(err))
	}

	switch {
	case !row.TokenOK:
		return ErrUnauthorized
	case c.Autoprovision != nil && *c.Autoprovision != row.Autoprovision:
		return ErrSettingsChanged
	case id != "" && row.Version == nil:
		return database.ErrNotFound
	case id != "" && c.Version != 0 && *row.Version != c.Version:
		return ErrStale
	}
	return nil
}

func deletedFilter(table string) string {
	if table == "users" {
		return " AND deleted_at IS NULL"
	}
	return ""
}

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

// UserFields are the attributes an IdP sets on a user. Create, link and
// replace overwrite every one of them.
type UserFields struct {
	UserName    string
	ExternalID  *string
	GivenName   string
	FamilyName  string
	DisplayName string
	// Email is the primary address, used for sign-in and mail.
	Email  string
	Active bool
	// Attributes holds the SCIM attributes without a column, as SCIM JSON.
	Attributes json.RawMessage
	// PasswordHash replaces the stored hash when set; nil keeps it.
	PasswordHash *string
}

// attributes returns the attributes as a string: with binary_parameters=yes
// in the connection string, lib/pq sends a []byte in binary, which jsonb
// does not accept.
func (f UserFields) attributes() string {
	if len(f.Attributes) == 0 {
		return "{}"
	}
	return string(f.Attributes)
}

// CreateOrLinkUser creates a user from f, or links an existing user of the
// tenant that SCIM does not manage yet: the one with the same userName.
// Without one, it links the only such user whose primary email is f.Email,
// unless another user holds f.UserName. Both matches ignore the case of
// ASCII letters only.
// Linking overwrites the user's attributes with f and marks them
// SCIM-managed. created reports which of the two happened. A userName that
// a SCIM-managed user holds is database.ErrConflict, also when two creates
// race, and so is one that the unique index holds as the same as another
// user's only through non-ASCII letters. A linked user written inactive
// loses their sessions through the users_end_sessions trigger. A failed
// condition returns its error (see Condition).
func (s *Store) CreateOrLinkUser(ctx context.Context, tenantID string, f UserFields, c Condition) (u User, created bool, err error) {
	if c.Version != 0 {
		return User{}, false, errors.New("create user: a version condition cannot apply to a new user")
	}
	args := []any{tenantID, f.UserName, f.ExternalID, f.GivenName, f.FamilyName, f.DisplayName, f.Email, f.Active, f.attributes(), f.PasswordHash}
	cond, args := c.sql(args, "0")
	values := `SELECT $1, $2, $3, $4, $5, $6, $7, $8, true, $9, $10 WHERE true` + cond

	// Outside a transaction, a plain INSERT goes first: most creates are
	// of new users, and it costs PostgreSQL less than the upsert below. A
	// clash with an existing userName then takes the upsert. Inside a
	// transaction the clash would abort the transaction, so the upsert
	// goes first.
	if _, inTx := s.db.(*sqlx.Tx); !inTx {
		u, ok, err := s.insertUser(ctx, tenantID, values, args, c)
		if err != nil || ok {
			return u, ok, err
		}
	}
	if f.Email != "" {
		u, ok, err := s.linkByEmail(ctx, tenantID, args, cond)
		if err != nil || ok {
			return u, false, err
		}
	}
	return s.upsertUser(ctx, tenantID, values, args, c)
}

// unmanagedWithEmail is true when an unmanaged user of the tenant ($1) has
// the primary email $7, ignoring the case of ASCII letters. The
// users_tenant_email index serves it.
const unmanagedWithEmail = `EXISTS (SELECT 1 FROM users e WHERE e.tenant_id = $1 AND ` + sameEmail + `
	AND $7 <> '' AND NOT e.scim_managed AND e.deleted_at IS NULL)`

// sameEmail is true when the email of user e is $7 up to the case of
// ASCII letters. lower() alone, which the index serves, also folds other
// letters in the C.UTF-8 locale, such as the Kelvin sign (U+212A) into k.
// An IdP keeps such an address apart from the ASCII one, so a create must
// not link the account with the ASCII address. lower() under the "C"
// collation folds only ASCII letters.
const sameEmail = `lower(e.email) = lower($7) AND lower(e.email COLLATE "C") = lower($7 COLLATE "C")`

// insertUser inserts a new user unless the userName is taken or an
// unmanaged user has the same email, in which case ok is false and the
// caller links instead.
func (s *Store) insertUser(ctx context.Context, tenantID, values string, args []any, c Condition) (u User, ok bool, err error) {
	err = s.getPrepared(ctx, &u, `
		INSERT INTO users (tenant_id, user_name, external_id, given_name, family_name, display_name, email,
			active, scim_managed, attributes, password_hash) `+values+` AND NOT `+unmanagedWithEmail+`
		RETURNING `+UserColumns, args...)
	switch err = database.Translate(err); {
	case err == nil:
		return u, true, nil
	case errors.Is(err, database.ErrConflict):
		return User{}, false, nil
	case database.IsNotFound(err):
		if err := s.explain(ctx, "users", tenantID, "", c); err != nil {
			return User{}, false, fmt.Errorf("create user: %w", err)
		}
		return User{}, false, nil
	}
	return User{}, false, fmt.Errorf("create user: %w", err)
}

// linkByEmail links the only unmanaged user whose primary email is the new
// user's, when no other user holds the new userName. ok is false when there
// is no such user, or more than one.
func (s *Store) linkByEmail(ctx context.Context, tenantID string, args []any, cond string) (u User, ok bool, err error) {
	err = s.getPrepared(ctx, &u, `
		UPDATE users u SET user_name = $2, external_id = $3, given_name = $4, family_name = $5, display_name = $6,
			email = $7, active = $8, scim_managed = true, attributes = $9,
			password_hash = coalesce($10, u.password_hash), version = u.version + 1, updated_at = now()
		WHERE u.tenant_id = $1 AND NOT u.scim_managed AND u.deleted_at IS NULL`+cond+` AND u.id = (
			SELECT (array_agg(e.id))[1] FROM users e
			WHERE e.tenant_id = $1 AND `+sameEmail+` AND NOT e.scim_managed AND e.deleted_at IS NULL
				AND NOT EXISTS (SELECT 1 FROM users n WHERE n.tenant_id = $1 AND lower(n.user_name) = lower($2)
					AND n.deleted_at IS NULL AND n.id <> e.id)
			HAVING count(*) = 1)
		RETURNING `+UserColumns, args...)
	switch err = database.Translate(err); {
	case err == nil:
		return u, true, nil
	case database.IsNotFound(err):
		return User{}, false, nil
	}
	return User{}, false, fmt.Errorf("link user by email: %w", err)
}

// upsertUser inserts the user, or links the unmanaged user that holds the
// same userName up to the case of ASCII letters. A userName that the
// unique index holds as the same only through other letters, such as
// the Kelvin sign (U+212A) for k, is taken, because the IdP keeps the two
// apart.
func (s *Store) upsertUser(ctx context.Context, tenantID, values string, args []any, c Condition) (User, bool, error) {
	var row struct {
		User
		Created bool `db:"created"`
	}
	err := s.getPrepared(ctx, &row, `
		INSERT INTO users AS u (tenant_id, user_name, external_id, given_name, family_name, display_name, email,
			active, scim_managed, attributes, password_hash) `+values+`
		ON CONFLICT (tenant_id, lower(user_name)) WHERE deleted_at IS NULL DO UPDATE SET
			user_name = EXCLUDED.user_name, external_id = EXCLUDED.external_id, given_name = EXCLUDED.given_name,
			family_name = EXCLUDED.family_name, display_name = EXCLUDED.display_name, email = EXCLUDED.email,
			active = EXCLUDED.active, scim_managed = true, attributes = EXCLUDED.attributes,
			password_hash = coalesce(EXCLUDED.password_hash, u.password_hash),
			version = u.version + 1, updated_at = now()
		WHERE NOT u.scim_managed AND lower(u.user_name COLLATE "C") = lower(EXCLUDED.user_name COLLATE "C")
		RETURNING `+UserColumns+`, (u.xmax = 0) AS created`, args...)
	if database.IsNotFound(database.Translate(err)) {
		if err := s.explain(ctx, "users", tenantID, "", c); err != nil {
			return User{}, false, fmt.Errorf("create user: %w", err)
		}
		return User{}, false, fmt.Errorf("create user: userName is taken: %w", database.ErrConflict)
	}
	if err != nil {
		return User{}, false, fmt.Errorf("create user: %w", database.Translate(err))
	}
	return row.User, row.Created, nil
}

// ReplaceUser overwrites a user's attributes with f and marks the user
// SCIM-managed. Deactivating the user ends their sessions in the same
// statement, through the users_end_sessions trigger. Another user's userName is database.ErrConflict; a deleted or
// missing user is database.ErrNotFound.
func (s *Store) ReplaceUser(ctx context.Context, tenantID, userID string, f UserFields, c Condition) (User, error) {
	args := []any{tenantID, userID, f.UserName, f.ExternalID, f.GivenName, f.FamilyName, f.DisplayName, f.Email, f.Active, f.attributes(), f.PasswordHash}
	cond, args := c.sql(args, "u.version")
	var u User
	err := s.getPrepared(ctx, &u, `
		UPDATE users u SET user_name = $3, external_id = $4, given_name = $5, family_name = $6, display_name = $7,
			email = $8, active = $9, scim_managed = true, attributes = $10,
			password_hash = coalesce($11, u.password_hash), version = u.version + 1, updated_at = now()
		WHERE u.tenant_id = $1 AND u.id = $2 AND u.deleted_at IS NULL`+cond+`
		RETURNING `+UserColumns, args...)
	if database.IsNotFound(database.Translate(err)) {
		return User{}, fmt.Errorf("replace user: %w", s.explainOr(ctx, "users", tenantID, userID, c))
	}
	if err != nil {
		return User{}, fmt.Errorf("replace user: %w", database.Translate(err))
	}
	return u, nil
}

// LockUser returns a user who is not deleted, with their groups, and locks
// the user's row until the transaction ends, so the caller can read,
// change and save the user with no other write in between. The lock
// (FOR NO KEY UPDATE) lets group writes that reference the user go on.
// Run it in a transaction (WithTx). A failed condition returns its error (see
// Condition), and a deleted or missing user database.ErrNotFound.
func (s *Store) LockUser(ctx context.Context, tenantID, userID string, c Condition) (User, []GroupRef, error) {
	cond, args := c.sql([]any{tenantID, userID}, "u.version")
	var row struct {
		User
		Groups GroupRefs `db:"groups"`
	}
	err := sqlx.GetContext(ctx, s.db, &row, `
		SELECT `+UserColumns+`, `+UserGroupsSQL("u")+` AS groups FROM users u
		WHERE u.tenant_id = $1 AND u.id = $2 AND u.deleted_at IS NULL`+cond+` FOR NO KEY UPDATE OF u`, args...)
	if database.IsNotFound(database.Translate(err)) {
		return User{}, nil, fmt.Errorf("lock user: %w", s.explainOr(ctx, "users", tenantID, userID, c))
	}
	if err != nil {
		return User{}, nil, fmt.Errorf("lock user: %w", database.Translate(err))
	}
	return row.User, row.Groups, nil
}

// explainOr is explain for a write of one existing record, where a miss
// with every condition holding means the record was changed in between.
func (s *Store) explainOr(ctx context.Context, table, tenantID, id string, c Condition) error {
	if err := s.explain(ctx, table, tenantID, id, c); err != nil {
		return err
	}
	return ErrStale
}

// ErrUserNotManaged means SetUserActive wrote nothing because SCIM does
// not manage the user yet: linking them takes a full write with
// ReplaceUser.
var ErrUserNotManaged = errors.New("user is not SCIM-managed")

// SetUserActive activates or deactivates a SCIM-managed user in one
// statement, keeping every other attribute, and returns the saved user and
// the groups they belong to. A change bumps version and updated_at, and
// setting the value the user already has keeps both. A user left inactive
// loses their sessions through the users_end_sessions trigger. A failed
// condition returns its error (see Condition), a deleted or missing user
// database.ErrNotFound, and a user SCIM does not manage ErrUserNotManaged.
func (s *Store) SetUserActive(ctx context.Context, tenantID, userID string, active bool, c Condition) (User, []GroupRef, error) {
	cond, args := c.sql([]any{tenantID, userID, active}, "u.version")
	var row struct {
		User
		Groups GroupRefs `db:"groups"`
	}
	err := s.getPrepared(ctx, &row, `
		UPDATE users u SET active = $3,
			version = CASE WHEN u.active = $3 THEN u.version ELSE u.version + 1 END,
			updated_at = CASE WHEN u.active = $3 THEN u.updated_at ELSE now() END
		WHERE u.tenant_id = $1 AND u.id = $2 AND u.deleted_at IS NULL AND u.scim_managed`+cond+`
		RETURNING `+UserColumns+`, `+UserGroupsSQL("u")+` AS groups`, args...)
	if database.IsNotFound(database.Translate(err)) {
		if err := s.explain(ctx, "users", tenantID, userID, c); err != nil {
			return User{}, nil, fmt.Errorf("set user active: %w", err)
		}
		return User{}, nil, fmt.Errorf("set user active: %w", ErrUserNotManaged)
	}
	if err != nil {
		return User{}, nil, fmt.Errorf("set user active: %w", database.Translate(err))
	}
	return row.User, row.Groups, nil
}

// DeleteUser marks a user deleted: they can no longer sign in, their
// sessions end (the users_end_sessions trigger), and they disappear from SCIM, while their row, attributes,
// drop location and group memberships stay in the database.
func (s *Store) DeleteUser(ctx context.Context, tenantID, userID string, c Condition) error {
	cond, args := c.sql([]any{tenantID, userID}, "u.version")
	var id string
	err := sqlx.GetContext(ctx, s.db, &id, `
		UPDATE users u SET deleted_at = now(), updated_at = now(), version = u.version + 1
		WHERE u.tenant_id = $1 AND u.id = $2 AND u.deleted_at IS NULL`+cond+`
		RETURNING u.id`, args...)
	if database.IsNotFound(database.Translate(err)) {
		return fmt.Errorf("delete user: %w", s.explainOr(ctx, "users", tenantID, userID, c))
	}
	if err != nil {
		return fmt.Errorf("delete user: %w", database.Translate(err))
	}
	return nil
}

// CreatePasswordLink stores the hash of a one-time link that lets a user
// set their password until expiresAt.
func (s *Store) CreatePasswordLink(ctx context.Context, userID string, linkHash []byte, expiresAt time.Time) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO password_links (link_hash, user_id, expires_at) VALUES ($1, $2, $3)`, linkHash, userID, expiresAt)
	if err != nil {
		return fmt.Errorf("create password link: %w", database.Translate(err))
	}
	return nil
}

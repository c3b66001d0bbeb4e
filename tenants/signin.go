package tenants

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// SAMLRequest is an AuthnRequest that waits for its Response. Exactly one
// of TenantID and SetupRequestID is set.
type SAMLRequest struct {
	ID             string  `db:"id"`
	TenantID       *string `db:"tenant_id"`
	SetupRequestID *string `db:"setup_request_id"`
	// Slug is the tenant slug in the ACS URL the Response must arrive at.
	Slug string `db:"slug"`
	// RelayState is the local path to open after the sign-in, or "".
	RelayState string `db:"relay_state"`
	// Return is the contact's status page path, sealed, for a test sign-in.
	Return    *secrets.Sealed `db:"-"`
	ClientIP  string          `db:"client_ip"`
	CreatedAt time.Time       `db:"created_at"`
	ExpiresAt time.Time       `db:"expires_at"`
}

// samlRequestRow is a saml_requests row with the sealed columns apart.
type samlRequestRow struct {
	SAMLRequest
	ReturnKeyID   *string `db:"return_key_id"`
	ReturnDataKey []byte  `db:"return_data_key"`
	ReturnSealed  []byte  `db:"return_sealed"`
}

const samlRequestColumns = `id, tenant_id, setup_request_id, slug, relay_state, client_ip, created_at, expires_at,
	return_key_id, return_data_key, return_sealed`

// CreateSAMLRequest stores a pending AuthnRequest.
func (s *Store) CreateSAMLRequest(ctx context.Context, r SAMLRequest) error {
	var keyID *string
	var dataKey, sealed []byte
	if r.Return != nil {
		keyID, dataKey, sealed = &r.Return.KeyID, r.Return.DataKey, r.Return.Ciphertext
	}
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO saml_requests (id, tenant_id, setup_request_id, slug, relay_state, client_ip, created_at, expires_at,
		                           return_key_id, return_data_key, return_sealed)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		r.ID, r.TenantID, r.SetupRequestID, r.Slug, r.RelayState, r.ClientIP, r.CreatedAt, r.ExpiresAt,
		keyID, dataKey, sealed)
	if err != nil {
		return fmt.Errorf("store SAML request: %w", database.Translate(err))
	}
	return nil
}

// SAMLRequest returns the pending request with that ID for the ACS of
// slug, if it has not expired at now. Any other request is
// database.ErrNotFound.
func (s *Store) SAMLRequest(ctx context.Context, id, slug string, now time.Time) (SAMLRequest, error) {
	var row samlRequestRow
	err := sqlx.GetContext(ctx, s.db, &row, `
		SELECT `+samlRequestColumns+` FROM saml_requests WHERE id = $1 AND slug = $2 AND expires_at > $3`, id, slug, now)
	if err != nil {
		return SAMLRequest{}, fmt.Errorf("get SAML request: %w", database.Translate(err))
	}
	r := row.SAMLRequest
	if row.ReturnKeyID != nil {
		r.Return = &secrets.Sealed{KeyID: *row.ReturnKeyID, DataKey: row.ReturnDataKey, Ciphertext: row.ReturnSealed}
	}
	return r, nil
}

// ConsumeSAMLRequest deletes a pending request, so its Response is accepted
// once. A request already consumed or expired at now is database.ErrNotFound.
func (s *Store) ConsumeSAMLRequest(ctx context.Context, id string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM saml_requests WHERE id = $1 AND expires_at > $2`, id, now)
	if err != nil {
		return fmt.Errorf("consume SAML request: %w", database.Translate(err))
	}
	return requireOneRow(res, "consume SAML request")
}

// CountSAMLRequestsFrom counts the pending requests that a client address
// started since a time, to bound how many one client can leave open.
func (s *Store) CountSAMLRequestsFrom(ctx context.Context, clientIP string, since time.Time) (int, error) {
	var n int
	err := s.db.QueryRowxContext(ctx, `
		SELECT count(*) FROM saml_requests WHERE client_ip = $1 AND created_at > $2`, clientIP, since).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count SAML requests: %w", database.Translate(err))
	}
	return n, nil
}

// CountTestSAMLRequests counts the pending test sign-ins of a setup request
// started since a time.
func (s *Store) CountTestSAMLRequests(ctx context.Context, setupRequestID string, since time.Time) (int, error) {
	var n int
	err := s.db.QueryRowxContext(ctx, `
		SELECT count(*) FROM saml_requests WHERE setup_request_id = $1 AND created_at > $2`, setupRequestID, since).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count test SAML requests: %w", database.Translate(err))
	}
	return n, nil
}

// RecordAssertionID adds an accepted assertion's ID to the replay cache of
// scopeID (a tenant or setup request ID) until expiresAt. It returns false
// when the ID is already there, which means the assertion is a replay.
func (s *Store) RecordAssertionID(ctx context.Context, scopeID, assertionID string, expiresAt time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO saml_assertion_ids (scope_id, assertion_id, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (scope_id, assertion_id) DO NOTHING`, scopeID, assertionID, expiresAt)
	if err != nil {
		return false, fmt.Errorf("record assertion ID: %w", database.Translate(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record assertion ID: %w", err)
	}
	return n == 1, nil
}

// PurgeSignInState deletes pending requests and replay cache entries that
// expired before now, and password sign-in failures older than failuresBefore.
func (s *Store) PurgeSignInState(ctx context.Context, now, failuresBefore time.Time) error {
	_, err := s.db.ExecContext(ctx, `
		WITH requests AS (DELETE FROM saml_requests WHERE expires_at <= $1),
		     assertions AS (DELETE FROM saml_assertion_ids WHERE expires_at <= $1)
		DELETE FROM user_signin_failures WHERE at < $2`, now, failuresBefore)
	if err != nil {
		return fmt.Errorf("purge sign-in state: %w", database.Translate(err))
	}
	return nil
}

// SPKey returns the SAML service provider's certificate and sealed private
// key. Before the first CreateSPKey it is database.ErrNotFound.
func (s *Store) SPKey(ctx context.Context) (cert []byte, sealed secrets.Sealed, err error) {
	var row struct {
		Certificate []byte `db:"certificate"`
		KeyID       string `db:"key_id"`
		DataKey     []byte `db:"data_key"`
		SealedKey   []byte `db:"sealed_key"`
	}
	err = sqlx.GetContext(ctx, s.db, &row, `SELECT certificate, key_id, data_key, sealed_key FROM saml_sp_keys WHERE id = 1`)
	if err != nil {
		return nil, secrets.Sealed{}, fmt.Errorf("get SP key: %w", database.Translate(err))
	}
	return row.Certificate, secrets.Sealed{KeyID: row.KeyID, DataKey: row.DataKey, Ciphertext: row.SealedKey}, nil
}

// CreateSPKey stores the SP key pair unless one exists already, so that
// instances starting at the same time agree on the first one stored.
func (s *Store) CreateSPKey(ctx context.Context, cert []byte, sealed secrets.Sealed) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO saml_sp_keys (id, certificate, key_id, data_key, sealed_key) VALUES (1, $1, $2, $3, $4)
		ON CONFLICT (id) DO NOTHING`, cert, sealed.KeyID, sealed.DataKey, sealed.Ciphertext)
	if err != nil {
		return fmt.Errorf("store SP key: %w", database.Translate(err))
	}
	return nil
}

// DeleteSPKey deletes the stored SP key pair and returns the ID of the
// master key that sealed it, or database.ErrNotFound when none is stored.
// The next request that needs the pair creates a new one.
func (s *Store) DeleteSPKey(ctx context.Context) (string, error) {
	var keyID string
	err := sqlx.GetContext(ctx, s.db, &keyID, `DELETE FROM saml_sp_keys WHERE id = 1 RETURNING key_id`)
	if err != nil {
		return "", fmt.Errorf("delete SP key: %w", database.Translate(err))
	}
	return keyID, nil
}

// UserForSAML finds the tenant's user that a SAML NameID names: the user
// whose userName is the NameID, ignoring the case of ASCII letters, or else
// the one user whose email is. Deactivated users are returned (the caller
// refuses them) and users deleted over SCIM are not. No match, or several
// by email, is database.ErrNotFound.
//
// The queries match with lower(), which folds more than ASCII: it turns
// the Kelvin sign (U+212A) into k and, in the C.UTF-8 locale, U+0130 into
// i. An IdP that keeps such a name apart from the ASCII one must not sign
// it in as another user, so the matches are checked again in Go.
func (s *Store) UserForSAML(ctx context.Context, tenantID, nameID string) (User, error) {
	u, err := s.UserByUserName(ctx, tenantID, nameID)
	if err == nil && equalFoldASCII(u.UserName, nameID) {
		return u, nil
	}
	if err != nil && !database.IsNotFound(err) {
		return User{}, err
	}
	var users []User
	err = sqlx.SelectContext(ctx, s.db, &users, `
		SELECT `+UserColumns+` FROM users
		WHERE tenant_id = $1 AND lower(email) = lower($2) AND email <> '' AND deleted_at IS NULL LIMIT 2`, tenantID, nameID)
	if err != nil {
		return User{}, fmt.Errorf("get user by email: %w", database.Translate(err))
	}
	if len(users) != 1 || !equalFoldASCII(users[0].Email, nameID) {
		return User{}, fmt.Errorf("get user by email: %d matches: %w", len(users), database.ErrNotFound)
	}
	return users[0], nil
}

// equalFoldASCII reports whether a and b are equal when ASCII letters are
// compared without case and every other byte exactly.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// SignInCandidate is a user whose userName or email matches what someone
// typed on the password sign-in page, with the tenant they belong to.
type SignInCandidate struct {
	User
	TenantSlug string `db:"tenant_slug"`
	RequireSSO bool   `db:"tenant_require_sso"`
}

// signInCandidatesPerTenant bounds the candidates one tenant contributes:
// a user whose userName matches and another whose email does. A tenant can
// provision any number of accounts with someone else's email over SCIM,
// and without the bound they would fill the limit and hide that person's
// own account.
const signInCandidatesPerTenant = 2

// SignInCandidates returns the users of every tenant whose userName or
// email is email, ignoring case, except users deleted over SCIM. It takes
// at most signInCandidatesPerTenant from each tenant, userName matches
// first, and at most limit in all, in the order of the tenants' names. The
// password sign-in page has no tenant in its URL, so this is the one user
// query that spans tenants.
func (s *Store) SignInCandidates(ctx context.Context, email string, limit int) ([]SignInCandidate, error) {
	var out []SignInCandidate
	err := sqlx.SelectContext(ctx, s.db, &out, `
		SELECT `+prefixColumns("c.", UserColumns)+`, c.tenant_slug, c.tenant_require_sso FROM (
			SELECT `+prefixColumns("u.", UserColumns)+`, t.slug AS tenant_slug, t.require_sso AS tenant_require_sso,
			       t.name AS tenant_name,
			       row_number() OVER (PARTITION BY u.tenant_id ORDER BY lower(u.user_name) = lower($1) DESC, u.id) AS rank
			FROM users u JOIN tenants t ON t.id = u.tenant_id
			WHERE (lower(u.user_name) = lower($1) OR (lower(u.email) = lower($1) AND u.email <> '')) AND u.deleted_at IS NULL
		) c
		WHERE c.rank <= $3
		ORDER BY c.tenant_name, c.tenant_slug, c.id LIMIT $2`, email, limit, signInCandidatesPerTenant)
	if err != nil {
		return nil, fmt.Errorf("find sign-in candidates: %w", database.Translate(err))
	}
	return out, nil
}

// RequireSSOTenantsForDomain returns the tenants that require SSO and
// whose approved setup request lists domain among its email domains.
func (s *Store) RequireSSOTenantsForDomain(ctx context.Context, domain string) ([]Tenant, error) {
	var out []Tenant
	err := sqlx.SelectContext(ctx, s.db, &out, `
		SELECT `+prefixColumns("t.", tenantColumns)+` FROM tenants t
		WHERE t.require_sso AND EXISTS (
			SELECT 1 FROM setup_requests r
			WHERE r.tenant_id = t.id AND r.state = 'approved' AND lower($1) = ANY (r.email_domains))
		ORDER BY t.name, t.slug`, domain)
	if err != nil {
		return nil, fmt.Errorf("find tenants for domain: %w", database.Translate(err))
	}
	return out, nil
}

// SetPassword stores a user's password hash (from secrets.HashPassword).
func (s *Store) SetPassword(ctx context.Context, tenantID, userID, hash string) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE users SET password_hash = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`,
		tenantID, userID, hash)
	if err != nil {
		return fmt.Errorf("set password: %w", database.Translate(err))
	}
	return requireOneRow(res, "set password")
}

// PasswordLink is a one-time link that lets a tenant user set a password.
type PasswordLink struct {
	UserID    string    `db:"user_id"`
	TenantID  string    `db:"tenant_id"`
	ExpiresAt time.Time `db:"expires_at"`
}

// UserPasswordLink returns the unused, unexpired set-up link of a tenant
// user whose secret has that hash. Any other link is database.ErrNotFound.
func (s *Store) UserPasswordLink(ctx context.Context, hash []byte, now time.Time) (PasswordLink, error) {
	var l PasswordLink
	err := sqlx.GetContext(ctx, s.db, &l, `
		SELECT l.user_id, u.tenant_id, l.expires_at FROM password_links l JOIN users u ON u.id = l.user_id
		WHERE l.link_hash = $1 AND l.used_at IS NULL AND l.expires_at > $2`, hash, now)
	if err != nil {
		return PasswordLink{}, fmt.Errorf("get password link: %w", database.Translate(err))
	}
	return l, nil
}

// UsePasswordLink marks a link used, so it works once. A link already used
// is database.ErrNotFound.
func (s *Store) UsePasswordLink(ctx context.Context, hash []byte, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE password_links SET used_at = $2 WHERE link_hash = $1 AND used_at IS NULL AND user_id IS NOT NULL`, hash, now)
	if err != nil {
		return fmt.Errorf("use password link: %w", database.Translate(err))
	}
	return requireOneRow(res, "use password link")
}

// RecordSignInFailure counts a failed password sign-in from clientIP for
// the account typed as emailHash.
func (s *Store) RecordSignInFailure(ctx context.Context, clientIP string, emailHash []byte, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO user_signin_failures (at, client_ip, email_hash) VALUES ($1, $2, $3)`, at, clientIP, emailHash)
	if err != nil {
		return fmt.Errorf("record sign-in failure: %w", database.Translate(err))
	}
	return nil
}

// SignInFailures counts the failed password sign-ins since a time from
// clientIP and for emailHash.
func (s *Store) SignInFailures(ctx context.Context, clientIP string, emailHash []byte, since time.Time) (byIP, byEmail int, err error) {
	err = s.db.QueryRowxContext(ctx, `
		SELECT (SELECT count(*) FROM user_signin_failures WHERE client_ip = $1 AND at > $3),
		       (SELECT count(*) FROM user_signin_failures WHERE email_hash = $2 AND at > $3)`,
		clientIP, emailHash, since).Scan(&byIP, &byEmail)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("count sign-in failures: %w", database.Translate(err))
	}
	return byIP, byEmail, nil
}

// prefixColumns qualifies each column of a comma-separated list with prefix.
func prefixColumns(prefix, columns string) string {
	fields := strings.Split(columns, ",")
	for i, f := range fields {
		fields[i] = prefix + strings.TrimSpace(f)
	}
	return strings.Join(fields, ", ")
}

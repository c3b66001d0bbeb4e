package forms

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// Staff roles. A reviewer works the queue and tenants; an admin also
// manages staff accounts.
const (
	RoleReviewer = "reviewer"
	RoleAdmin    = "admin"
)

// StaffLinkTTL is how long a set-password link works.
const StaffLinkTTL = 24 * time.Hour

// Staff is an implementations staff account. The password hash never
// leaves the store.
type Staff struct {
	ID           string     `db:"id"`
	Email        string     `db:"email"`
	Name         string     `db:"name"`
	Role         string     `db:"role"`
	CreatedAt    time.Time  `db:"created_at"`
	DisabledAt   *time.Time `db:"disabled_at"`
	LockedUntil  *time.Time `db:"locked_until"`
	FailedLogins int        `db:"failed_logins"`
	HasPassword  bool       `db:"has_password"`
}

// staffActorPrefix starts the actor of a staff member's action, followed
// by their email address.
const staffActorPrefix = "staff:"

// Actor returns how the audit trail and request history name the member.
func (s Staff) Actor() string { return staffActorPrefix + s.Email }

// IsAdmin reports whether the member may manage staff accounts.
func (s Staff) IsAdmin() bool { return s.Role == RoleAdmin }

const staffColumns = `id, email, name, role, created_at, disabled_at, locked_until, failed_logins,
	password_hash IS NOT NULL AS has_password`

// Actor is who performs an action, as the audit trail records it.
type Actor struct {
	Name      string // "staff:<email>", "contact:<email>", "operator" or "system"
	StaffID   string // the staff member's ID, when a staff member acts
	ClientIP  string // the client's address, for actions over HTTP
	RequestID string // the HTTP request ID, to find the request's log lines
}

// Operator is the actor of the gatehouse commands.
var Operator = Actor{Name: "operator"}

// event returns an audit event by the actor. The HTTP request ID goes into
// the detail, next to the action's own facts.
func (a Actor) event(action, tenantID, requestID string, detail map[string]any) tenants.AuditEvent {
	if a.RequestID != "" {
		if detail == nil {
			detail = map[string]any{}
		}
		detail["http_request_id"] = a.RequestID
	}
	return tenants.AuditEvent{
		Actor: a.Name, Action: action, ClientIP: a.ClientIP,
		TenantID: tenants.Ptr(tenantID), RequestID: tenants.Ptr(requestID), Detail: detail,
	}
}

// audit writes an event by the actor in tx.
func (a Actor) audit(ctx context.Context, tx *sqlx.Tx, action, tenantID, requestID string, detail map[string]any) error {
	return tenants.NewStore(tx).Audit(ctx, a.event(action, tenantID, requestID, detail))
}

// InputError is input that a person must correct; Message is written for
// them and names the field.
type InputError struct {
	Field   string
	Message string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Message }

func inputError(field, format string, args ...any) error {
	return &InputError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Errors of staff account management.
var (
	ErrSelfChange = errors.New("you cannot change your own role or disable your own account")
	ErrLastAdmin  = errors.New("at least one active admin must remain")
)

// StaffStore manages staff accounts, their passwords and sign-in.
type StaffStore struct {
	db *sqlx.DB
}

// NewStaffStore returns a staff store on db.
func NewStaffStore(db *sqlx.DB) *StaffStore { return &StaffStore{db: db} }

// Add creates an account (role "reviewer" or "admin") with no password, or
// for an existing email issues a new link, leaving the name and role as
// they are. It returns the secret of a set-password link that expires in
// StaffLinkTTL; the link is <BaseURL>/staff/password/<secret>. It is
// audited as the operator.
func (s *StaffStore) Add(ctx context.Context, email, name, role string) (Staff, secrets.LinkSecret, error) {
	var staff Staff
	var link secrets.LinkSecret
	err := database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		staff, link, err = InviteStaff(ctx, tx, Operator, email, name, role)
		return err
	})
	return staff, link, err
}

// InviteStaff is Add in the caller's transaction, by actor, so the caller
// can email the link in the same transaction.
func InviteStaff(ctx context.Context, tx *sqlx.Tx, actor Actor, email, name, role string) (Staff, secrets.LinkSecret, error) {
	email, name, err := checkStaffInput(email, name, role)
	if err != nil {
		return Staff{}, "", err
	}
	var staff Staff
	err = sqlx.GetContext(ctx, tx, &staff, `
		INSERT INTO staff (email, name, role) VALUES ($1, $2, $3)
		ON CONFLICT (lower(email)) DO UPDATE SET email = staff.email
		RETURNING `+staffColumns, email, name, role)
	if err != nil {
		return Staff{}, "", fmt.Errorf("add staff: %w", database.Translate(err))
	}

	link, err := newStaffLink(ctx, tx, staff.ID)
	if err != nil {
		return Staff{}, "", err
	}
	err = actor.audit(ctx, tx, "staff.invite", "", "", map[string]any{"staff_id": staff.ID, "email": staff.Email, "role": staff.Role})
	return staff, link, err
}

func checkStaffInput(email, name, role string) (string, string, error) {
	email, name = strings.TrimSpace(email), strings.TrimSpace(name)
	addr, err := netmail.ParseAddress(email)
	if err != nil || addr.Address != email || len(email) > 254 {
		return "", "", inputError("email", "Enter an email address in the form name@example.com.")
	}
	if name == "" || len([]rune(name)) > 200 {
		return "", "", inputError("name", "Enter a name of 1 to 200 characters.")
	}
	if role != RoleReviewer && role != RoleAdmin {
		return "", "", inputError("role", "Choose the role reviewer or admin.")
	}
	return email, name, nil
}

// newStaffLink stores a set-password link for a staff member and makes
// their earlier unused links stop working.
func newStaffLink(ctx context.Context, tx *sqlx.Tx, staffID string) (secrets.LinkSecret, error) {
	if _, err := tx.ExecContext(ctx, `
		UPDATE password_links SET used_at = now() WHERE staff_id = $1 AND used_at IS NULL`, staffID); err != nil {
		return "", fmt.Errorf("void earlier password links: %w", database.Translate(err))
	}
	link := secrets.NewLinkSecret()
	_, err := tx.ExecContext(ctx, `
		INSERT INTO password_links (link_hash, staff_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))`,
		link.Hash(), staffID, StaffLinkTTL.Seconds())
	if err != nil {
		return "", fmt.Errorf("create password link: %w", database.Translate(err))
	}
	return link, nil
}

// List returns every staff account by name.
func (s *StaffStore) List(ctx context.Context) ([]Staff, error) {
	out := []Staff{}
	err := sqlx.SelectContext(ctx, s.db, &out, `SELECT `+staffColumns+` FROM staff ORDER BY lower(name), email`)
	if err != nil {
		return nil, fmt.Errorf("list staff: %w", database.Translate(err))
	}
	return out, nil
}

// Get returns a staff account by ID.
func (s *StaffStore) Get(ctx context.Context, id string) (Staff, error) {
	return getStaff(ctx, s.db, `id = $1`, id)
}

func getStaff(ctx context.Context, q sqlx.QueryerContext, where string, arg any) (Staff, error) {
	var staff Staff
	err := sqlx.GetContext(ctx, q, &staff, `SELECT `+staffColumns+` FROM staff WHERE `+where, arg)
	if err != nil {
		return Staff{}, fmt.Errorf("get staff: %w", database.Translate(err))
	}
	return staff, nil
}

// SetRole changes a member's role. Nobody changes their own role, and the
// last active admin cannot be made a reviewer.
func (s *StaffStore) SetRole(ctx context.Context, actor Actor, id, role string) (Staff, error) {
	if role != RoleReviewer && role != RoleAdmin {
		return Staff{}, inputError("role", "Choose the role reviewer or admin.")
	}
	if id == actor.StaffID {
		return Staff{}, ErrSelfChange
	}
	var staff Staff
	err := database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		if staff, err = lockStaff(ctx, tx, id); err != nil {
			return err
		}
		if staff.Role == RoleAdmin && role != RoleAdmin {
			if err := requireAnotherAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE staff SET role = $2 WHERE id = $1`, id, role); err != nil {
			return fmt.Errorf("set staff role: %w", database.Translate(err))
		}
		detail := map[string]any{"staff_id": id, "email": staff.Email, "from": staff.Role, "to": role}
		staff.Role = role
		return actor.audit(ctx, tx, "staff.role", "", "", detail)
	})
	return staff, err
}

// SetDisabled disables or enables a member's account. Disabling ends the
// member's sessions at once; enabling also lifts a sign-in lockout. Nobody
// disables themselves, nor the last active admin.
func (s *StaffStore) SetDisabled(ctx context.Context, actor Actor, id string, disabled bool) (Staff, error) {
	if id == actor.StaffID {
		return Staff{}, ErrSelfChange
	}
	var staff Staff
	err := database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		if staff, err = lockStaff(ctx, tx, id); err != nil {
			return err
		}
		if disabled && staff.Role == RoleAdmin {
			if err := requireAnotherAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		if err := setDisabled(ctx, tx, id, disabled); err != nil {
			return err
		}
		action := map[bool]string{true: "staff.disable", false: "staff.enable"}[disabled]
		staff, err = getStaff(ctx, tx, `id = $1`, id)
		if err != nil {
			return err
		}
		return actor.audit(ctx, tx, action, "", "", map[string]any{"staff_id": id, "email": staff.Email})
	})
	return staff, err
}

func setDisabled(ctx context.Context, tx *sqlx.Tx, id string, disabled bool) error {
	query := `UPDATE staff SET disabled_at = NULL, locked_until = NULL, failed_logins = 0 WHERE id = $1`
	if disabled {
		query = `UPDATE staff SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1`
	}
	if _, err := tx.ExecContext(ctx, query, id); err != nil {
		return fmt.Errorf("disable staff: %w", database.Translate(err))
	}
	if disabled {
		return endStaffSessions(ctx, tx, id)
	}
	return nil
}

func lockStaff(ctx context.Context, tx *sqlx.Tx, id string) (Staff, error) {
	var staff Staff
	err := sqlx.GetContext(ctx, tx, &staff, `SELECT `+staffColumns+` FROM staff WHERE id = $1 FOR UPDATE`, id)
	if err != nil {
		return Staff{}, fmt.Errorf("get staff: %w", database.Translate(err))
	}
	return staff, nil
}

// requireAnotherAdmin returns ErrLastAdmin unless an active admin other
// than id exists. The admins are locked, so two admins demoting each other
// at once cannot leave none.
func requireAnotherAdmin(ctx context.Context, tx *sqlx.Tx, id string) error {
	var others []string
	err := sqlx.SelectContext(ctx, tx, &others, `
		SELECT id FROM staff WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1 FOR UPDATE`, id)
	if err != nil {
		return fmt.Errorf("count admins: %w", database.Translate(err))
	}
	if len(others) == 0 {
		return ErrLastAdmin
	}
	return nil
}

func endStaffSessions(ctx context.Context, tx *sqlx.Tx, staffID string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE staff_id = $1`, staffID); err != nil {
		return fmt.Errorf("end staff sessions: %w", database.Translate(err))
	}
	return nil
}

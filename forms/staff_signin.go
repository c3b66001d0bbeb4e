package forms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// Sign-in limits. After MaxFailedSignIns failures in a row an account is
// locked for LockoutDuration. Independently, MaxFailedSignIns failures for
// one email address, or MaxFailedSignInsPerIP from one client address,
// within LockoutDuration throttle further attempts, so an unknown address
// behaves like a known one and one client cannot guess across accounts.
const (
	MaxFailedSignIns      = 5
	MaxFailedSignInsPerIP = 20
	LockoutDuration       = 15 * time.Minute
	// maxResetsPerHour bounds password reset emails per account.
	maxResetsPerHour = 3
)

// MaxUnknownResetAudits bounds the audit rows that password reset
// requests for addresses without an active account write per hour, over
// every client and instance together. Typos by staff stay far below it.
// Past it, such requests get the same page but no audit row, and the row
// that reaches the cap carries "audit_capped": true. Requests for active
// accounts are always audited.
const MaxUnknownResetAudits = 50

// Sign-in errors. Wrong email and wrong password are the same error, so the
// page reveals nothing about which accounts exist.
var (
	ErrBadCredentials      = errors.New("wrong email or password")
	ErrPasswordLinkInvalid = errors.New("the password link is invalid, used or expired")
)

// SignInThrottledError means too many failed attempts; the next may come
// after RetryAfter.
type SignInThrottledError struct {
	RetryAfter time.Duration
}

func (e *SignInThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins; retry in %s", e.RetryAfter.Round(time.Second))
}

// dummyHash is checked against when an account does not exist, so a
// failed sign-in takes as long for an unknown email as for a known one. It
// is made on first use, because hashing costs 64 MiB and a tenth of a second.
var dummyHash = sync.OnceValue(func() string {
	hash, _ := secrets.HashPassword("gatehouse timing equalizer")
	return hash
})

// SignIn checks a staff member's email and password from the client at
// actor.ClientIP. It returns ErrBadCredentials for a wrong password, an
// unknown or disabled account or one without a password yet, and
// *SignInThrottledError while the account is locked or the email or
// client address failed too often. Every attempt is audited.
func (s *StaffStore) SignIn(ctx context.Context, actor Actor, email string, password secrets.Password) (Staff, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if wait, err := s.throttled(ctx, actor.ClientIP, email); err != nil || wait > 0 {
		if err == nil {
			err = &SignInThrottledError{RetryAfter: wait}
			s.auditAttempt(ctx, actor, email, "", "staff.signin_throttled")
		}
		return Staff{}, err
	}

	var row struct {
		Staff
		Hash *string `db:"password_hash"`
	}
	err := sqlx.GetContext(ctx, s.db, &row, `
		SELECT `+staffColumns+`, password_hash FROM staff WHERE lower(email) = $1`, email)
	if err != nil && !database.IsNotFound(database.Translate(err)) {
		return Staff{}, fmt.Errorf("sign in: %w", database.Translate(err))
	}
	found := err == nil && row.DisabledAt == nil && row.Hash != nil
	if !found {
		secrets.CheckPassword(dummyHash(), password)
		return Staff{}, s.recordFailure(ctx, actor, email, "")
	}
	if row.LockedUntil != nil && time.Until(*row.LockedUntil) > 0 {
		s.auditAttempt(ctx, actor, email, row.ID, "staff.signin_throttled")
		return Staff{}, &SignInThrottledError{RetryAfter: time.Until(*row.LockedUntil)}
	}
	if !secrets.CheckPassword(*row.Hash, password) {
		return Staff{}, s.recordFailure(ctx, actor, email, row.ID)
	}
	return s.recordSuccess(ctx, actor, row.Staff)
}

// throttled returns how long the client or email must wait because of
// recent failures, or zero.
func (s *StaffStore) throttled(ctx context.Context, clientIP, email string) (time.Duration, error) {
	var row struct {
		ByIP       int        `db:"by_ip"`
		ByEmail    int        `db:"by_email"`
		OldestIP   *time.Time `db:"oldest_ip"`
		OldestMail *time.Time `db:"oldest_email"`
	}
	err := sqlx.GetContext(ctx, s.db, &row, `
		SELECT count(*) FILTER (WHERE client_ip = $1) AS by_ip, count(*) FILTER (WHERE email = $2) AS by_email,
		       min(at) FILTER (WHERE client_ip = $1) AS oldest_ip, min(at) FILTER (WHERE email = $2) AS oldest_email
		FROM staff_signin_failures
		WHERE (client_ip = $1 OR email = $2) AND at > now() - make_interval(secs => $3)`,
		clientIP, email, LockoutDuration.Seconds())
	if err != nil {
		return 0, fmt.Errorf("check sign-in throttle: %w", database.Translate(err))
	}
	switch {
	case row.ByIP >= MaxFailedSignInsPerIP:
		return retryAfter(row.OldestIP), nil
	case row.ByEmail >= MaxFailedSignIns:
		return retryAfter(row.OldestMail), nil
	}
	return 0, nil
}

func retryAfter(oldest *time.Time) time.Duration {
	if oldest == nil {
		return LockoutDuration
	}
	if wait := time.Until(oldest.Add(LockoutDuration)); wait > time.Second {
		return wait
	}
	return time.Second
}

// recordFailure counts a failed attempt, locks the account after
// MaxFailedSignIns failures in a row and audits the attempt. It returns
// the error for the caller to return.
func (s *StaffStore) recordFailure(ctx context.Context, actor Actor, email, staffID string) error {
	locked := false
	err := database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM staff_signin_failures WHERE at < now() - interval '1 day'`)
		if err != nil {
			return fmt.Errorf("prune sign-in failures: %w", database.Translate(err))
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO staff_signin_failures (client_ip, email) VALUES ($1, $2)`, actor.ClientIP, email)
		if err != nil {
			return fmt.Errorf("record sign-in failure: %w", database.Translate(err))
		}
		if staffID != "" {
			if locked, err = countFailure(ctx, tx, staffID); err != nil {
				return err
			}
		}
		return auditSignIn(ctx, tx, actor, email, staffID, "staff.signin_failed", map[string]any{"locked": locked})
	})
	if err != nil {
		return err
	}
	if locked {
		return &SignInThrottledError{RetryAfter: LockoutDuration}
	}
	return ErrBadCredentials
}

// countFailure adds a failure to the account and locks it once it reaches
// MaxFailedSignIns; it reports whether it locked the account.
func countFailure(ctx context.Context, tx *sqlx.Tx, staffID string) (bool, error) {
	var locked bool
	err := sqlx.GetContext(ctx, tx, &locked, `
		UPDATE staff SET
		    failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
		    locked_until = CASE WHEN failed_logins + 1 >= $2 THEN now() + make_interval(secs => $3) ELSE locked_until END
		WHERE id = $1
		RETURNING locked_until IS NOT NULL AND locked_until > now()`, staffID, MaxFailedSignIns, LockoutDuration.Seconds())
	if err != nil {
		return false, fmt.Errorf("count sign-in failure: %w", database.Translate(err))
	}
	return locked, nil
}

func (s *StaffStore) recordSuccess(ctx context.Context, actor Actor, staff Staff) (Staff, error) {
	err := database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE staff SET failed_logins = 0, locked_until = NULL WHERE id = $1`, staff.ID)
		if err != nil {
			return fmt.Errorf("record sign-in: %w", database.Translate(err))
		}
		actor.Name, actor.StaffID = staff.Actor(), staff.ID
		return auditSignIn(ctx, tx, actor, staff.Email, staff.ID, "staff.signin", nil)
	})
	staff.FailedLogins, staff.LockedUntil = 0, nil
	return staff, err
}

// auditAttempt audits a throttled attempt in its own transaction; a
// failure to audit it is ignored because the attempt changed nothing.
func (s *StaffStore) auditAttempt(ctx context.Context, actor Actor, email, staffID, action string) {
	database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		return auditSignIn(ctx, tx, actor, email, staffID, action, nil)
	})
}

// auditSignIn records a sign-in attempt. An attempt for an account that
// exists names it as the actor; any other is by "anonymous".
func auditSignIn(ctx context.Context, tx *sqlx.Tx, actor Actor, email, staffID, action string, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["email"] = email
	actor.Name = "anonymous"
	if staffID != "" {
		actor.Name, actor.StaffID = "staff:"+email, staffID
		detail["staff_id"] = staffID
	}
	return actor.audit(ctx, tx, action, "", "", detail)
}

// RequestPasswordReset creates a set-password link for the active account
// with that email, in the caller's transaction so the caller can email it.
// ok is false, with no error, when there is no such account or it
// requested too many links within the hour. The page shows the same text
// either way.
func RequestPasswordReset(ctx context.Context, tx *sqlx.Tx, actor Actor, email string) (staff Staff, link secrets.LinkSecret, ok bool, err error) {
	email = strings.ToLower(strings.TrimSpace(email))
	staff, err = getStaff(ctx, tx, `lower(email) = $1 AND disabled_at IS NULL`, email)
	if database.IsNotFound(err) {
		return Staff{}, "", false, auditUnknownReset(ctx, tx, actor, email)
	}
	if err != nil {
		return Staff{}, "", false, err
	}

	var recent int
	err = sqlx.GetContext(ctx, tx, &recent, `
		SELECT count(*) FROM password_links WHERE staff_id = $1 AND created_at > now() - interval '1 hour'`, staff.ID)
	if err != nil {
		return Staff{}, "", false, fmt.Errorf("count password links: %w", database.Translate(err))
	}
	sent := recent < maxResetsPerHour
	if sent {
		if link, err = newStaffLink(ctx, tx, staff.ID); err != nil {
			return Staff{}, "", false, err
		}
	}
	detail := map[string]any{"email": email, "staff_id": staff.ID, "sent": sent}
	return staff, link, sent, actor.audit(ctx, tx, "staff.password_reset", "", "", detail)
}

// auditUnknownReset audits a reset request for an address without an
// active account, unless MaxUnknownResetAudits such rows were written
// within the hour. The count reads at most that many of the newest reset
// rows through the audit_log (action, id) index.
func auditUnknownReset(ctx context.Context, tx *sqlx.Tx, actor Actor, email string) error {
	var recent int
	err := sqlx.GetContext(ctx, tx, &recent, `
		SELECT count(*) FROM (
		    SELECT at FROM audit_log
		    WHERE action = 'staff.password_reset' AND detail->>'staff_id' IS NULL
		    ORDER BY id DESC LIMIT $1
		) newest
		WHERE at > now() - interval '1 hour'`, MaxUnknownResetAudits)
	if err != nil {
		return fmt.Errorf("count unknown reset audits: %w", database.Translate(err))
	}
	if recent >= MaxUnknownResetAudits {
		return nil
	}
	detail := map[string]any{"email": email, "sent": false}
	if recent == MaxUnknownResetAudits-1 {
		detail["audit_capped"] = true
	}
	return actor.audit(ctx, tx, "staff.password_reset", "", "", detail)
}

// StaffForLink returns the account a set-password link belongs to, or
// ErrPasswordLinkInvalid when the link is unknown, used or expired or the account
// is disabled.
func (s *StaffStore) StaffForLink(ctx context.Context, link secrets.LinkSecret) (Staff, error) {
	staff, err := getStaff(ctx, s.db, `disabled_at IS NULL AND id = (
		SELECT staff_id FROM password_links WHERE link_hash = $1 AND used_at IS NULL AND expires_at > now())`, link.Hash())
	if database.IsNotFound(err) {
		return Staff{}, ErrPasswordLinkInvalid
	}
	return staff, err
}

// SetPassword sets the password of the account a link belongs to and uses
// up the link. It lifts a lockout and ends every session of the account,
// so a reset signs out whoever knew the old password. A password shorter
// than secrets.MinPasswordLength is an *InputError.
func (s *StaffStore) SetPassword(ctx context.Context, actor Actor, link secrets.LinkSecret, password secrets.Password) (Staff, error) {
	hash, err := secrets.HashPassword(password)
	if errors.Is(err, secrets.ErrWeakPassword) {
		return Staff{}, inputError("password", "Choose a password of at least %d characters.", secrets.MinPasswordLength)
	}
	if err != nil {
		return Staff{}, fmt.Errorf("hash password: %w", err)
	}

	var staff Staff
	err = database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		if staff, err = useStaffLink(ctx, tx, link); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
			UPDATE staff SET password_hash = $2, failed_logins = 0, locked_until = NULL WHERE id = $1`, staff.ID, hash)
		if err != nil {
			return fmt.Errorf("set password: %w", database.Translate(err))
		}
		if err := endStaffSessions(ctx, tx, staff.ID); err != nil {
			return err
		}
		actor.Name, actor.StaffID = staff.Actor(), staff.ID
		return actor.audit(ctx, tx, "staff.password_set", "", "", map[string]any{"staff_id": staff.ID})
	})
	staff.HasPassword = err == nil
	return staff, err
}

func useStaffLink(ctx context.Context, tx *sqlx.Tx, link secrets.LinkSecret) (Staff, error) {
	var staffID string
	err := sqlx.GetContext(ctx, tx, &staffID, `
		UPDATE password_links SET used_at = now()
		WHERE link_hash = $1 AND used_at IS NULL AND expires_at > now() AND staff_id IS NOT NULL
		RETURNING staff_id`, link.Hash())
	if database.IsNotFound(database.Translate(err)) {
		return Staff{}, ErrPasswordLinkInvalid
	}
	if err != nil {
		return Staff{}, fmt.Errorf("use password link: %w", database.Translate(err))
	}
	staff, err := getStaff(ctx, tx, `id = $1 AND disabled_at IS NULL`, staffID)
	if database.IsNotFound(err) {
		return Staff{}, ErrPasswordLinkInvalid
	}
	return staff, err
}

// EndSessions signs a staff member out everywhere and audits it.
func (s *StaffStore) EndSessions(ctx context.Context, actor Actor, staffID string) error {
	return database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if err := endStaffSessions(ctx, tx, staffID); err != nil {
			return err
		}
		return actor.audit(ctx, tx, "staff.signout_all", "", "", map[string]any{"staff_id": staffID})
	})
}

// RecordSignOut audits a staff member signing out of one session.
func (s *StaffStore) RecordSignOut(ctx context.Context, actor Actor) error {
	return database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		return actor.audit(ctx, tx, "staff.signout", "", "", map[string]any{"staff_id": actor.StaffID})
	})
}

package portal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// Sessions live in the database, so every instance behind a load balancer
// sees the same ones; the cookie carries a random secret whose hash is the
// row's key.
const sessionCookie = "gatehouse_session"

// Session lifetimes: a session ends after its idle timeout without a
// request, and after its absolute timeout in any case.
const (
	staffIdleTimeout     = 30 * time.Minute
	staffAbsoluteTimeout = 12 * time.Hour
	userIdleTimeout      = 24 * time.Hour
	userAbsoluteTimeout  = 14 * 24 * time.Hour
	// touchInterval limits last_seen_at writes to one per session a minute.
	touchInterval = time.Minute
)

const (
	staffKey = "gatehouse.staff"
	userKey  = "gatehouse.user"
)

// session is one row of the sessions table.
type session struct {
	StaffID    *string   `db:"staff_id"`
	UserID     *string   `db:"user_id"`
	TenantID   *string   `db:"tenant_id"`
	CreatedAt  time.Time `db:"created_at"`
	LastSeenAt time.Time `db:"last_seen_at"`
	ExpiresAt  time.Time `db:"expires_at"`
}

// startSession ends the session the request carries, if any, and starts a
// new one with a new cookie value, so a session ID set before sign-in is
// never the one used after it. Exactly one of staffID and userID is set.
func (s *Server) startSession(c *gin.Context, staffID, userID, tenantID string) error {
	return s.startSessionUntil(c, staffID, userID, tenantID, time.Time{})
}

// errUserCannotSignIn means that the sessions_check_user trigger stored
// no session, because the user was deactivated or deleted after the
// sign-in read them.
var errUserCannotSignIn = errors.New("user can no longer sign in")

// startSessionUntil is startSession for a session that ends at notAfter
// when that comes before the absolute timeout. A zero notAfter sets no
// such end. A tenant user who can no longer sign in gets no session and
// no cookie, and the error wraps errUserCannotSignIn.
func (s *Server) startSessionUntil(c *gin.Context, staffID, userID, tenantID string, notAfter time.Time) error {
	if err := s.endSession(c); err != nil {
		return err
	}
	now := s.now()
	absolute := staffAbsoluteTimeout
	if staffID == "" {
		absolute = userAbsoluteTimeout
	}
	expires := now.Add(absolute)
	if !notAfter.IsZero() && notAfter.Before(expires) {
		expires = notAfter
	}

	secret := secrets.NewLinkSecret()
	res, err := s.db.ExecContext(c.Request.Context(), `
		INSERT INTO sessions (id_hash, staff_id, user_id, tenant_id, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		secret.Hash(), nullable(staffID), nullable(userID), nullable(tenantID), expires)
	if err != nil {
		return fmt.Errorf("start session: %w", database.Translate(err))
	}
	stored, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	if stored == 0 {
		return fmt.Errorf("start session: %w", errUserCannotSignIn)
	}
	s.setCookie(c, sessionCookie, secret.Reveal(), cookieMaxAge(expires.Sub(now)))
	return nil
}

// cookieMaxAge returns a lifetime in whole seconds, rounded up and at
// least 1, because a Max-Age of 0 would make the cookie outlive its
// session until the browser closes.
func cookieMaxAge(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// currentSession returns the request's session, or nil when there is none
// or it timed out.
func (s *Server) currentSession(c *gin.Context) (*session, error) {
	value, err := c.Cookie(sessionCookie)
	if err != nil || value == "" {
		return nil, nil
	}
	hash := secrets.LinkSecret(value).Hash()
	var row session
	err = sqlx.GetContext(c.Request.Context(), s.db, &row, `
		SELECT staff_id, user_id, tenant_id, created_at, last_seen_at, expires_at FROM sessions WHERE id_hash = $1`, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", database.Translate(err))
	}

	now := s.now()
	idle := userIdleTimeout
	if row.StaffID != nil {
		idle = staffIdleTimeout
	}
	if now.After(row.ExpiresAt) || now.Sub(row.LastSeenAt) > idle {
		s.deleteSession(c.Request.Context(), hash)
		return nil, nil
	}
	if now.Sub(row.LastSeenAt) > touchInterval {
		s.db.ExecContext(c.Request.Context(), `UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1`, hash, now)
	}
	return &row, nil
}

// endSession deletes the request's session and clears its cookie.
func (s *Server) endSession(c *gin.Context) error {
	value, err := c.Cookie(sessionCookie)
	if err != nil || value == "" {
		return nil
	}
	if err := s.deleteSession(c.Request.Context(), secrets.LinkSecret(value).Hash()); err != nil {
		return err
	}
	s.setCookie(c, sessionCookie, "", -1)
	return nil
}

func (s *Server) deleteSession(ctx context.Context, hash []byte) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, hash); err != nil {
		return fmt.Errorf("end session: %w", database.Translate(err))
	}
	return nil
}

// setCookie sets an HttpOnly, SameSite=Lax cookie for the whole site,
// Secure when the public URL is https.
func (s *Server) setCookie(c *gin.Context, name, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.cfg.BaseURL.Scheme == "https",
		SameSite: http.SameSiteLaxMode,
	})
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/mail"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// StaffSession is the signed-in staff member, as pages see them.
type StaffSession struct {
	ID    string `db:"id"`
	Email string `db:"email"`
	Name  string `db:"name"`
	Role  string `db:"role"` // "reviewer" or "admin"
}

// IsAdmin reports whether the staff member may manage staff accounts.
func (s *StaffSession) IsAdmin() bool { return s.Role == "admin" }

// Actor names the staff member in audit rows and request history.
func (s *StaffSession) Actor() string { return "staff:" + s.Email }

// requireStaff lets the request through only with a staff session, and
// sends everyone else to the staff sign-in page.
func (s *Server) requireStaff(c *gin.Context) {
	staff, err := s.loadStaff(c)
	if err != nil {
		s.handle(func(*gin.Context) error { return err })(c)
		c.Abort()
		return
	}
	if staff == nil {
		c.Redirect(http.StatusSeeOther, "/staff/signin")
		c.Abort()
		return
	}
	c.Set(staffKey, staff)
	c.Next()
}

func (s *Server) loadStaff(c *gin.Context) (*StaffSession, error) {
	sess, err := s.currentSession(c)
	if err != nil || sess == nil || sess.StaffID == nil {
		return nil, err
	}
	var staff StaffSession
	err = sqlx.GetContext(c.Request.Context(), s.db, &staff, `
		SELECT id, email, name, role FROM staff WHERE id = $1 AND disabled_at IS NULL`, *sess.StaffID)
	if err != nil {
		err = database.Translate(err)
		if database.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("load staff: %w", err)
	}
	return &staff, nil
}

// currentStaff returns the staff member that requireStaff stored.
func currentStaff(c *gin.Context) *StaffSession {
	v, _ := c.Get(staffKey)
	staff, _ := v.(*StaffSession)
	return staff
}

// signInForm is the staff sign-in page's data.
type signInForm struct {
	Email  string
	Error  string
	Notice string
}

func (h *staffHandlers) showSignIn(c *gin.Context) error {
	if staff, err := h.s.loadStaff(c); err == nil && staff != nil {
		return redirect(c, "/staff")
	}
	form := signInForm{}
	switch c.Query("done") {
	case "password":
		form.Notice = "Your password is set. Sign in with it now."
		if email := c.Query("email"); len(email) <= maxEmailLength {
			form.Email = email
		}
	case "signedout":
		form.Notice = "You are signed out."
	}
	return h.s.render(c, http.StatusOK, "staff_signin.html", "Staff sign-in", form)
}

// signIn checks the password and starts a new session, so a session ID
// set before sign-in is never the one used after it.
func (h *staffHandlers) signIn(c *gin.Context) error {
	email := strings.TrimSpace(c.PostForm("email"))
	password := secrets.Password(c.PostForm("password"))
	staff, err := h.staff.SignIn(c.Request.Context(), actorOf(c), email, password)

	var throttled *forms.SignInThrottledError
	switch {
	case errors.As(err, &throttled):
		c.Header("Retry-After", strconv.Itoa(int(throttled.RetryAfter.Seconds())+1))
		minutes := int(throttled.RetryAfter.Minutes()) + 1
		return h.s.render(c, http.StatusTooManyRequests, "staff_signin.html", "Staff sign-in", signInForm{Email: email,
			Error: fmt.Sprintf("Too many failed attempts. Wait %d minutes and try again, or reset your password.", minutes)})
	case errors.Is(err, forms.ErrBadCredentials):
		return h.s.render(c, http.StatusUnauthorized, "staff_signin.html", "Staff sign-in", signInForm{Email: email,
			Error: "The email or password is wrong. Check both and try again."})
	case err != nil:
		return err
	}
	if err := h.s.startSession(c, staff.ID, "", ""); err != nil {
		return err
	}
	return redirect(c, "/staff")
}

func (h *staffHandlers) signOut(c *gin.Context) error {
	if err := h.staff.RecordSignOut(c.Request.Context(), actorOf(c)); err != nil {
		return err
	}
	if err := h.s.endSession(c); err != nil {
		return err
	}
	return redirect(c, "/staff/signin?done=signedout")
}

func (h *staffHandlers) account(c *gin.Context) error {
	staff, err := h.staff.Get(c.Request.Context(), currentStaff(c).ID)
	if err != nil {
		return err
	}
	return h.s.render(c, http.StatusOK, "staff_account.html", "Your account", staff)
}

// signOutEverywhere ends every session of the signed-in member, this one
// included.
func (h *staffHandlers) signOutEverywhere(c *gin.Context) error {
	actor := actorOf(c)
	if err := h.staff.EndSessions(c.Request.Context(), actor, actor.StaffID); err != nil {
		return err
	}
	h.s.setCookie(c, sessionCookie, "", -1)
	return redirect(c, "/staff/signin?done=signedout")
}

// resetForm is the password reset page's data.
type resetForm struct {
	Sent bool
}

func (h *staffHandlers) showReset(c *gin.Context) error {
	return h.s.render(c, http.StatusOK, "staff_reset.html", "Reset your password", resetForm{})
}

// resetMinDuration is the least time a password reset request takes.
// For an account, creating a link and queueing a mail took about 0.7 ms
// longer than a request for an unknown address (median of 40 requests each
// in the portal test harness, with a local PostgreSQL). So the response
// time revealed whether the account exists. Both now respond after this.
const resetMinDuration = 100 * time.Millisecond

// reset emails a set-password link when the address has an active
// account, and shows the same page either way. The rate limits count
// every address alike, so they reveal no more than the page does.
func (h *staffHandlers) reset(c *gin.Context) error {
	email := strings.TrimSpace(c.PostForm("email"))
	if email == "" || len(email) > maxEmailLength {
		return userError(http.StatusBadRequest, "Enter the email address of your staff account, such as name@example.com.", nil)
	}
	now := h.s.now()
	if ok, wait := h.resets.byIP.allow(clientKey(c), now); !ok {
		return tooManyRequests(c, wait)
	}
	if ok, wait := h.resets.byEmail.allow(emailKey(email), now); !ok {
		return tooManyRequests(c, wait)
	}

	answerAt := time.Now().Add(resetMinDuration)
	err := database.WithTx(c.Request.Context(), h.s.db, func(tx *sqlx.Tx) error {
		staff, link, ok, err := forms.RequestPasswordReset(c.Request.Context(), tx, actorOf(c), email)
		if err != nil || !ok {
			return err
		}
		return h.mailPasswordLink(c, tx, staff, link)
	})
	waitUntil(c.Request.Context(), answerAt)
	if err != nil {
		return err
	}
	return h.s.render(c, http.StatusOK, "staff_reset.html", "Reset your password", resetForm{Sent: true})
}

// waitUntil returns at t, or earlier when ctx is done.
func waitUntil(ctx context.Context, t time.Time) {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

func (h *staffHandlers) mailPasswordLink(c *gin.Context, tx *sqlx.Tx, staff forms.Staff, link secrets.LinkSecret) error {
	msg, err := mail.StaffPasswordLink(staff.Email, staff.Name, h.s.link("/staff/password/"+link.Reveal()),
		h.s.now().Add(forms.StaffLinkTTL))
	if err != nil {
		return fmt.Errorf("build password mail: %w", err)
	}
	_, err = mail.Enqueue(c.Request.Context(), tx, msg)
	return err
}

// passwordForm is the set-password page's data.
type passwordForm struct {
	Staff     forms.Staff
	MinLength int
	Error     string
	Invalid   bool // the link is unknown, used or expired
}

func (h *staffHandlers) showPassword(c *gin.Context) error {
	form := passwordForm{MinLength: secrets.MinPasswordLength}
	link, ok := linkSecret(c)
	if !ok {
		form.Invalid = true
		return h.s.render(c, http.StatusNotFound, "staff_password.html", "Set your password", form)
	}
	staff, err := h.staff.StaffForLink(c.Request.Context(), link)
	if errors.Is(err, forms.ErrPasswordLinkInvalid) {
		form.Invalid = true
		return h.s.render(c, http.StatusNotFound, "staff_password.html", "Set your password", form)
	}
	if err != nil {
		return err
	}
	form.Staff = staff
	return h.s.render(c, http.StatusOK, "staff_password.html", "Set your password", form)
}

// setPassword sets the password, which ends every session of the member,
// and sends them to sign in with it.
func (h *staffHandlers) setPassword(c *gin.Context) error {
	form := passwordForm{MinLength: secrets.MinPasswordLength}
	link, ok := linkSecret(c)
	if !ok {
		form.Invalid = true
		return h.s.render(c, http.StatusNotFound, "staff_password.html", "Set your password", form)
	}
	password := secrets.Password(c.PostForm("password"))
	if password != secrets.Password(c.PostForm("confirm")) {
		return h.passwordProblem(c, link, "The two passwords differ. Type the same password twice.")
	}
	staff, err := h.staff.SetPassword(c.Request.Context(), actorOf(c), link, password)
	var input *forms.InputError
	switch {
	case errors.Is(err, forms.ErrPasswordLinkInvalid):
		form.Invalid = true
		return h.s.render(c, http.StatusNotFound, "staff_password.html", "Set your password", form)
	case errors.As(err, &input):
		return h.passwordProblem(c, link, input.Message)
	case err != nil:
		return err
	}
	h.s.setCookie(c, sessionCookie, "", -1)
	return redirect(c, "/staff/signin?"+url.Values{"done": {"password"}, "email": {staff.Email}}.Encode())
}

func (h *staffHandlers) passwordProblem(c *gin.Context, link secrets.LinkSecret, message string) error {
	staff, err := h.staff.StaffForLink(c.Request.Context(), link)
	if err != nil {
		return staffError(err)
	}
	form := passwordForm{Staff: staff, MinLength: secrets.MinPasswordLength, Error: message}
	return h.s.render(c, http.StatusUnprocessableEntity, "staff_password.html", "Set your password", form)
}

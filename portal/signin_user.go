package portal

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// userSession is the signed-in tenant user and their tenant.
type userSession struct {
	User   tenants.User
	Tenant tenants.Tenant
}

// currentUser returns the request's signed-in tenant user, or nil. It
// reads the user on every request, so a user deactivated or deleted over
// SCIM is signed out at once: their sessions are deleted here too.
func (s *Server) currentUser(c *gin.Context) (*userSession, error) {
	sess, err := s.currentSession(c)
	if err != nil || sess == nil || sess.UserID == nil || sess.TenantID == nil {
		return nil, err
	}
	ctx := c.Request.Context()
	user, err := s.tenants.UserByID(ctx, *sess.TenantID, *sess.UserID)
	if database.IsNotFound(err) {
		return nil, s.endSession(c)
	}
	if err != nil {
		return nil, err
	}
	if !user.CanSignIn() {
		if err := s.tenants.EndUserSessions(ctx, user.TenantID, user.ID); err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "session_ended", "reason", "user_deactivated", "user_id", user.ID)
		return nil, s.endSession(c)
	}
	t, err := s.tenants.ByID(ctx, user.TenantID)
	if err != nil {
		return nil, err
	}
	tenants.SetRequestTenant(ctx, t.Slug)
	return &userSession{User: user, Tenant: t}, nil
}

// requireUser lets the request through only with a tenant user's session
// and sends everyone else to the sign-in page.
func (s *Server) requireUser(c *gin.Context) {
	u, err := s.currentUser(c)
	if err != nil {
		s.handle(func(*gin.Context) error { return err })(c)
		c.Abort()
		return
	}
	if u == nil {
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request.URL.Path))
		c.Abort()
		return
	}
	c.Set(userKey, u)
	c.Next()
}

// signedInUser returns the user that requireUser stored.
func signedInUser(c *gin.Context) *userSession {
	v, _ := c.Get(userKey)
	u, _ := v.(*userSession)
	return u
}

// signInSAMLUser signs in the tenant's user that a verified assertion
// names. Unknown users are refused, never created: the tenant has no
// setting that allows just-in-time creation.
func (s *Server) signInSAMLUser(c *gin.Context, t tenants.Tenant, ident samlIdentity, next string) error {
	ctx := c.Request.Context()
	user, err := s.tenants.UserForSAML(ctx, t.ID, ident.NameID)
	if database.IsNotFound(err) {
		s.log.WarnContext(ctx, "signin_refused", "tenant", t.Slug, "reason", "unknown_user", "assertion_id", ident.AssertionID)
		countSignIn("saml", "unknown_user")
		return s.render(c, http.StatusForbidden, "signin_failed.html", "We could not find your account", signInFailedPage{
			Message: t.Name + " has not given you access to the " + t.Product.Title() + " yet. " +
				"Ask your IT team to assign the app to you in your company's sign-in service.",
		})
	}
	if err != nil {
		return err
	}
	if !user.CanSignIn() {
		return s.refuseDeactivated(c, t, user, "saml")
	}
	return s.completeSignInUntil(c, t, user, "saml", next, ident.SessionNotOnOrAfter)
}

// refuseDeactivated refuses a deactivated user and ends any session they
// still hold.
func (s *Server) refuseDeactivated(c *gin.Context, t tenants.Tenant, user tenants.User, method string) error {
	ctx := c.Request.Context()
	if err := s.tenants.EndUserSessions(ctx, t.ID, user.ID); err != nil {
		return err
	}
	s.log.WarnContext(ctx, "signin_refused", "tenant", t.Slug, "reason", "user_deactivated", "user_id", user.ID, "method", method)
	countSignIn(method, "user_deactivated")
	if err := s.tenants.Audit(ctx, tenants.AuditEvent{
		Actor: "user:" + user.ID, Action: "user.signin_refused", TenantID: &t.ID, ClientIP: c.ClientIP(),
		Detail: map[string]any{"method": method, "reason": "deactivated"},
	}); err != nil {
		return err
	}
	return s.render(c, http.StatusForbidden, "signin_failed.html", "Your account is deactivated", signInFailedPage{
		Message: "Your account at " + t.Name + " has been deactivated, so you cannot sign in. If you think this is a mistake, ask your IT team.",
	})
}

// completeSignIn starts a new session for the user and sends them on:
// first to pick a drop location if they have none, then to next.
func (s *Server) completeSignIn(c *gin.Context, t tenants.Tenant, user tenants.User, method, next string) error {
	return s.completeSignInUntil(c, t, user, method, next, time.Time{})
}

// completeSignInUntil is completeSignIn for a session that must end by
// notAfter, such as the IdP's SessionNotOnOrAfter. A zero notAfter sets
// no end beyond the usual timeouts.
func (s *Server) completeSignInUntil(c *gin.Context, t tenants.Tenant, user tenants.User, method, next string, notAfter time.Time) error {
	ctx := c.Request.Context()
	err := s.startSessionUntil(c, "", user.ID, t.ID, notAfter)
	if errors.Is(err, errUserCannotSignIn) {
		return s.refuseDeactivated(c, t, user, method)
	}
	if err != nil {
		return err
	}
	countSignIn(method, "success")
	if err := s.tenants.Audit(ctx, tenants.AuditEvent{
		Actor: "user:" + user.ID, Action: "user.signin", TenantID: &t.ID, ClientIP: c.ClientIP(),
		Detail: map[string]any{"method": method},
	}); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "signin", "tenant", t.Slug, "user_id", user.ID, "method", method)

	landing, err := s.landingPath(ctx, user, next)
	if err != nil {
		return err
	}
	return redirect(c, landing)
}

// landingPath returns where a signed-in user goes: the drop location
// picker while they have none and the tenant has some, then next or
// /account.
func (s *Server) landingPath(ctx context.Context, user tenants.User, next string) (string, error) {
	if next == "" {
		next = "/account"
	}
	if user.DropLocationID != nil {
		return next, nil
	}
	has, err := s.tenants.HasDropLocations(ctx, user.TenantID)
	if err != nil || !has {
		return next, err
	}
	return "/account/drop-location?next=" + url.QueryEscape(next), nil
}

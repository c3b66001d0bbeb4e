package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// Password sign-in limits: failures are counted over signInFailureWindow
// per typed email and per client address, and further attempts get 429.
const (
	signInFailureWindow = 15 * time.Minute
	maxFailuresPerEmail = 10
	maxFailuresPerIP    = 100
	maxEmailLength      = 320
	maxPasswordLength   = 1024
	// maxCandidates bounds the accounts one email can match across tenants
	// (a company with both products has two).
	maxCandidates = 5
)

// loginPage is the data of signin_login.html.
type loginPage struct {
	Email string
	Next  string
	Error string
}

// dummyPasswordHash is checked when no account matches, so a wrong email
// costs as much time as a wrong password.
var dummyPasswordHash = sync.OnceValue(func() string {
	hash, _ := secrets.HashPassword(secrets.Password(secrets.NewLinkSecret().Reveal()))
	return hash
})

func (s *Server) loginForm(c *gin.Context) error {
	noStore(c)
	return s.render(c, http.StatusOK, "signin_login.html", "Sign in", loginPage{Next: localPath(c.Query("next"))})
}

// login handles the password sign-in form. An email whose company requires
// SSO is sent to that company's SSO page instead, whatever the password.
func (s *Server) login(c *gin.Context) error {
	ctx := c.Request.Context()
	noStore(c)
	form := loginPage{
		Email: strings.ToLower(strings.TrimSpace(c.PostForm("email"))),
		Next:  localPath(c.PostForm("next")),
	}
	password := secrets.Password(c.PostForm("password"))
	at := strings.LastIndexByte(form.Email, '@')
	if at < 1 || at == len(form.Email)-1 || len(form.Email) > maxEmailLength || len(password) > maxPasswordLength {
		form.Error = "Enter your work email address, such as name@example.com."
		return s.render(c, http.StatusBadRequest, "signin_login.html", "Sign in", form)
	}

	emailHash := secrets.Hash(form.Email)
	if limited, err := s.signInLimited(c, emailHash); err != nil || limited {
		return err
	}
	candidates, err := s.tenants.SignInCandidates(ctx, form.Email, maxCandidates)
	if err != nil {
		return err
	}
	if done, err := s.redirectToRequiredSSO(c, form, candidates); done || err != nil {
		return err
	}
	if password == "" {
		return s.loginWithoutPassword(c, form, candidates)
	}

	user, ok := checkCandidates(candidates, password)
	if !ok {
		if err := s.tenants.RecordSignInFailure(ctx, c.ClientIP(), emailHash, s.now()); err != nil {
			return err
		}
		s.log.InfoContext(ctx, "signin_failed", "method", "password", "reason", "bad_credentials", "accounts_matched", len(candidates))
		countSignIn("password", "bad_credentials")
		form.Error = "The email or password is not right. Check them and try again."
		return s.render(c, http.StatusUnauthorized, "signin_login.html", "Sign in", form)
	}
	t, err := s.tenants.ByID(ctx, user.TenantID)
	if err != nil {
		return err
	}
	if !user.CanSignIn() {
		return s.refuseDeactivated(c, t, user.User, "password")
	}
	return s.completeSignIn(c, t, user.User, "password", form.Next)
}

// signInLimited returns a 429 error when the client or the email has
// failed too often within the window.
func (s *Server) signInLimited(c *gin.Context, emailHash []byte) (bool, error) {
	byIP, byEmail, err := s.tenants.SignInFailures(c.Request.Context(), c.ClientIP(), emailHash, s.now().Add(-signInFailureWindow))
	if err != nil {
		return false, err
	}
	if byIP < maxFailuresPerIP && byEmail < maxFailuresPerEmail {
		return false, nil
	}
	s.log.WarnContext(c.Request.Context(), "signin_rate_limited", "failures_by_ip", byIP, "failures_by_email", byEmail)
	c.Header("Retry-After", "900")
	return true, userError(http.StatusTooManyRequests, "Too many failed sign-ins. Wait 15 minutes and try again.", nil)
}

// redirectToRequiredSSO sends the user to SSO when their email domain
// belongs to a tenant that requires it, or, for a domain no such tenant
// has, when all their accounts are in tenants that require it.
func (s *Server) redirectToRequiredSSO(c *gin.Context, form loginPage, candidates []tenants.SignInCandidate) (bool, error) {
	ctx := c.Request.Context()
	required, err := s.tenants.RequireSSOTenantsForDomain(ctx, form.Email[strings.LastIndexByte(form.Email, '@')+1:])
	if err != nil {
		return false, err
	}
	if len(required) == 0 && !anyAccountOutsideSSO(candidates) {
		if required, err = s.candidateTenants(ctx, candidates); err != nil {
			return false, err
		}
	}

	switch len(required) {
	case 0:
		return false, nil
	case 1:
		target := "/sso/" + required[0].Slug + "?reason=required"
		if form.Next != "" {
			target += "&next=" + url.QueryEscape(form.Next)
		}
		return true, redirect(c, target)
	}
	return true, s.renderSSOChoice(c, required, form.Next, true)
}

// anyAccountOutsideSSO reports whether one of the candidates is in a
// tenant that does not require SSO. A tenant can provision an account with
// any email over SCIM. So its account alone must not send a user who also
// has accounts elsewhere to its IdP, because a tenant decides where
// sign-ins go only for the email domains staff approved for it.
func anyAccountOutsideSSO(candidates []tenants.SignInCandidate) bool {
	for _, cand := range candidates {
		if !cand.RequireSSO {
			return true
		}
	}
	return false
}

// candidateTenants returns the candidates' tenants, once each, in the
// candidates' order.
func (s *Server) candidateTenants(ctx context.Context, candidates []tenants.SignInCandidate) ([]tenants.Tenant, error) {
	seen := map[string]bool{}
	var out []tenants.Tenant
	for _, cand := range candidates {
		if seen[cand.TenantID] {
			continue
		}
		seen[cand.TenantID] = true
		t, err := s.tenants.ByID(ctx, cand.TenantID)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// loginWithoutPassword takes a user who left the password empty to single
// sign on. When all their accounts are in one tenant with SSO, the browser
// goes straight to its IdP. Otherwise the user picks, by name, one of the
// tenants with SSO that they have accounts in, so no tenant gets the
// sign-in only because its name sorts first. Without SSO, the form asks
// for the password again.
func (s *Server) loginWithoutPassword(c *gin.Context, form loginPage, candidates []tenants.SignInCandidate) error {
	all, err := s.candidateTenants(c.Request.Context(), candidates)
	if err != nil {
		return err
	}
	var withSSO []tenants.Tenant
	for _, t := range all {
		_, err := s.tenants.SAMLConnection(c.Request.Context(), t.ID)
		if err == nil {
			withSSO = append(withSSO, t)
		} else if !database.IsNotFound(err) {
			return err
		}
	}

	switch {
	case len(withSSO) == 0:
		form.Error = "Enter your password."
		return s.render(c, http.StatusBadRequest, "signin_login.html", "Sign in", form)
	case len(all) == 1:
		return s.startSSO(c, withSSO[0], form.Next)
	}
	return s.renderSSOChoice(c, withSSO, form.Next, false)
}

// checkCandidates returns the first candidate with a password whose hash
// matches. With none, it still checks a dummy hash.
// NOTE: an email that matches accounts in two tenants with passwords signs
// in to the first whose password matches, by tenant name.
func checkCandidates(candidates []tenants.SignInCandidate, password secrets.Password) (tenants.SignInCandidate, bool) {
	checked := false
	for _, cand := range candidates {
		if cand.PasswordHash == nil || cand.RequireSSO {
			continue
		}
		checked = true
		if secrets.CheckPassword(*cand.PasswordHash, password) {
			return cand, true
		}
	}
	if !checked {
		secrets.CheckPassword(dummyPasswordHash(), password)
	}
	return tenants.SignInCandidate{}, false
}

// logout ends the tenant user's session.
func (s *Server) logout(c *gin.Context) error {
	if err := s.endSession(c); err != nil {
		return err
	}
	return redirect(c, "/login")
}

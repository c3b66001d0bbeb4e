package portal

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// accountSetupPage is the data of account_setup.html.
type accountSetupPage struct {
	Tenant tenants.Tenant
	Email  string
	// SSO is set when the tenant requires SSO: the page offers only that.
	SSO bool
	// HasSSO is set when the tenant has a SAML connection at all.
	HasSSO bool
	Error  string
}

// accountSetupLink resolves the secret of an account set-up link to the
// link's user and tenant. Unknown, used and expired links are errLinkInvalid.
func (s *Server) accountSetupLink(c *gin.Context) (tenants.User, tenants.Tenant, error) {
	ctx := c.Request.Context()
	link, err := s.tenants.UserPasswordLink(ctx, secrets.LinkSecret(c.Param("secret")).Hash(), s.now())
	if database.IsNotFound(err) {
		return tenants.User{}, tenants.Tenant{}, errLinkInvalid
	}
	if err != nil {
		return tenants.User{}, tenants.Tenant{}, err
	}
	user, err := s.tenants.UserByID(ctx, link.TenantID, link.UserID)
	if database.IsNotFound(err) {
		return tenants.User{}, tenants.Tenant{}, errLinkInvalid
	}
	if err != nil {
		return tenants.User{}, tenants.Tenant{}, err
	}
	t, err := s.tenants.ByID(ctx, link.TenantID)
	return user, t, err
}

func (s *Server) accountSetupPage(c *gin.Context, user tenants.User, t tenants.Tenant, problem string) (accountSetupPage, error) {
	_, err := s.tenants.SAMLConnection(c.Request.Context(), t.ID)
	if err != nil && !database.IsNotFound(err) {
		return accountSetupPage{}, err
	}
	return accountSetupPage{Tenant: t, Email: user.Email, SSO: t.RequireSSO, HasSSO: err == nil, Error: problem}, nil
}

// accountSetupForm shows the set-up link's page: a password form, or the
// way to SSO when the tenant requires it.
func (s *Server) accountSetupForm(c *gin.Context) error {
	noStore(c)
	c.Header("Referrer-Policy", "no-referrer")
	user, t, err := s.accountSetupLink(c)
	if err != nil {
		return err
	}
	if !user.CanSignIn() {
		return s.refuseDeactivated(c, t, user, "setup_link")
	}
	page, err := s.accountSetupPage(c, user, t, "")
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "account_setup.html", "Set up your account", page)
}

// accountSetup sets the user's password from the set-up link, uses the
// link up and signs the user in.
func (s *Server) accountSetup(c *gin.Context) error {
	noStore(c)
	c.Header("Referrer-Policy", "no-referrer")
	user, t, err := s.accountSetupLink(c)
	if err != nil {
		return err
	}
	if !user.CanSignIn() {
		return s.refuseDeactivated(c, t, user, "setup_link")
	}
	if t.RequireSSO {
		return userError(http.StatusForbidden, t.Name+" requires you to use single sign on, so you cannot set a password.", nil)
	}

	problem := ""
	password := secrets.Password(c.PostForm("password"))
	switch {
	case len(password) > maxPasswordLength:
		problem = "Your password is too long."
	case password != secrets.Password(c.PostForm("confirm")):
		problem = "The two passwords do not match."
	}
	var hash string
	if problem == "" {
		hash, err = secrets.HashPassword(password)
		if errors.Is(err, secrets.ErrWeakPassword) {
			problem = "Use at least 12 characters for your password."
		} else if err != nil {
			return err
		}
	}
	if problem != "" {
		page, err := s.accountSetupPage(c, user, t, problem)
		if err != nil {
			return err
		}
		return s.render(c, http.StatusBadRequest, "account_setup.html", "Set up your account", page)
	}

	err = database.WithTx(c.Request.Context(), s.db, func(tx *sqlx.Tx) error {
		store := s.tenants.WithTx(tx)
		if err := store.UsePasswordLink(c.Request.Context(), secrets.LinkSecret(c.Param("secret")).Hash(), s.now()); err != nil {
			return err
		}
		return store.SetPassword(c.Request.Context(), t.ID, user.ID, hash)
	})
	if database.IsNotFound(err) {
		return errLinkInvalid
	}
	if err != nil {
		return err
	}
	return s.completeSignIn(c, t, user, "setup_link", "")
}

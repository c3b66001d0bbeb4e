package portal

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// setupHandlers serves the IT contacts' setup portal: the form, email
// verification, the private status page with its edit and withdraw
// actions, and re-sending links. Contacts have no account: every page after
// the form is reached through a link whose secret is the only credential.
type setupHandlers struct {
	s       *Server
	store   *forms.Store
	limits  *setupLimits
	fetcher *forms.Fetcher
}

// registerSetup adds the IT contacts' setup portal under /setup.
func (s *Server) registerSetup(r *gin.Engine) {
	h := &setupHandlers{s: s, store: forms.NewStore(s.db), limits: newSetupLimits(), fetcher: &forms.Fetcher{}}

	r.GET("/setup", s.handle(h.showForm))
	r.POST("/setup", s.handle(h.submit))
	r.GET("/setup/sent", s.handle(h.sent))
	r.GET("/setup/resend", s.handle(h.showResend))
	r.POST("/setup/resend", s.handle(h.resend))

	// Pages behind a link secret tell browsers and proxies not to store
	// them and not to send their URL in a Referer header.
	r.GET("/setup/verify/:secret", privateLink, s.handle(h.showVerify))
	r.POST("/setup/verify/:secret", privateLink, s.handle(h.verify))
	r.GET("/setup/status/:secret", privateLink, s.handle(h.status))
	r.GET("/setup/status/:secret/edit", privateLink, s.handle(h.showEdit))
	r.POST("/setup/status/:secret/edit", privateLink, s.handle(h.resubmit))
	r.POST("/setup/status/:secret/withdraw", privateLink, s.handle(h.withdraw))
}

// privateLink sets the headers of every page whose URL holds a secret.
func privateLink(c *gin.Context) {
	noStore(c)
	c.Header("Referrer-Policy", "no-referrer")
	c.Next()
}

// contactLinks builds the contact's links on the public base URL.
func (h *setupHandlers) contactLinks() forms.ContactLinks {
	return forms.ContactLinks{
		VerifyURL: func(s secrets.LinkSecret) string { return h.s.link("/setup/verify/" + s.Reveal()) },
		StatusURL: func(s secrets.LinkSecret) string { return h.s.link("/setup/status/" + s.Reveal()) },
	}
}

// linkSecret returns the :secret path parameter when it has the shape of a
// link secret (43 characters of unpadded base64url), so a malformed one
// costs no database lookup.
func linkSecret(c *gin.Context) (secrets.LinkSecret, bool) {
	v := c.Param("secret")
	if len(v) != 43 {
		return "", false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "", false
		}
	}
	return secrets.LinkSecret(v), true
}

// statusRequest loads the request behind the status link of the URL.
func (h *setupHandlers) statusRequest(c *gin.Context) (forms.Request, secrets.LinkSecret, error) {
	secret, ok := linkSecret(c)
	if !ok {
		return forms.Request{}, "", forms.ErrContactLinkInvalid
	}
	r, err := h.store.StatusLink(c.Request.Context(), secret, h.s.now())
	return r, secret, err
}

// linkProblem is the page for a link that is not valid or has expired; it
// offers to send new links.
type linkProblem struct {
	Expired bool
	Kind    string // "status" or "verification"
}

// renderLinkError renders err when it is a link error and returns it
// otherwise, for the caller to pass on.
func (h *setupHandlers) renderLinkError(c *gin.Context, err error, kind string) error {
	switch {
	case errors.Is(err, forms.ErrContactLinkExpired):
		return h.s.render(c, http.StatusGone, "setup_link.html", "Link expired", linkProblem{Expired: true, Kind: kind})
	case errors.Is(err, forms.ErrContactLinkInvalid):
		return h.s.render(c, http.StatusNotFound, "setup_link.html", "Link not valid", linkProblem{Kind: kind})
	}
	return err
}

// statusPath is the status page's path, for redirects after an action.
func statusPath(secret secrets.LinkSecret) string {
	return "/setup/status/" + secret.Reveal()
}

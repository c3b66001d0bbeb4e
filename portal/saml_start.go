package portal

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/gin-gonic/gin"
	saml2 "github.com/russellhaering/gosaml2"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// samlRequestTTL is how long a pending AuthnRequest waits for its
// Response: long enough for a password, MFA and a slow IdP.
const samlRequestTTL = 15 * time.Minute

// maxOpenRequestsPerClient bounds the pending AuthnRequests one client
// address can leave open within samlRequestTTL, so one client cannot fill
// the table. A completed sign-in deletes its request, and a whole office
// behind one NAT address signs in at nine, so the bound is generous.
const maxOpenRequestsPerClient = 500

// authnStart is an SP-initiated sign-in about to be sent to an IdP.
type authnStart struct {
	Slug       string // tenant slug in the ACS URL
	SSOURL     string
	SSOBinding string
	Request    tenants.SAMLRequest // the pending row, without ID and times
	// FromForm is set when the browser got here by submitting a form, so a
	// redirect to the IdP would break the form-action policy: the IdP is
	// then reached through an auto-submitting form for both bindings.
	FromForm bool
}

// autoSubmit is the data of signin_post.html, a form that app.js submits
// as soon as the page loads (no inline script, so CSP can forbid it).
type autoSubmit struct {
	Method string
	Action string
	Fields []formField
}

type formField struct{ Name, Value string }

// ssoStart serves /sso/:tenant: with ?reason=required it explains that the
// company requires SSO, otherwise it sends an AuthnRequest to the IdP.
func (s *Server) ssoStart(c *gin.Context) error {
	ctx := c.Request.Context()
	if !tenants.ValidSlug(c.Param("tenant")) {
		return errNotFound
	}
	t, err := s.tenants.BySlug(ctx, c.Param("tenant"))
	if database.IsNotFound(err) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	tenants.SetRequestTenant(ctx, t.Slug)
	conn, err := s.tenants.SAMLConnection(ctx, t.ID)
	if database.IsNotFound(err) {
		return userError(http.StatusNotFound, "Single sign on is not set up for "+t.Name+" yet. Ask your IT team.", err)
	}
	if err != nil {
		return err
	}

	next := localPath(c.Query("next"))
	if c.Query("reason") == "required" {
		return s.renderSSOChoice(c, []tenants.Tenant{t}, next, true)
	}
	return s.startAuthn(c, authnStart{
		Slug: t.Slug, SSOURL: conn.SSOURL, SSOBinding: conn.SSOBinding,
		Request: tenants.SAMLRequest{TenantID: &t.ID, RelayState: next},
	})
}

// ssoChoice is one company the single sign on page offers to continue to.
type ssoChoice struct {
	Name    string
	Product string
	Href    string
}

// ssoChoicePage is the data of signin_required.html.
type ssoChoicePage struct {
	// Required is set when the companies require single sign on, and
	// unset when the user's email has accounts at several companies.
	Required bool
	Choices  []ssoChoice
}

// renderSSOChoice shows a link to the single sign on of each tenant in
// list, each with its name, so that the user picks their company.
func (s *Server) renderSSOChoice(c *gin.Context, list []tenants.Tenant, next string, required bool) error {
	page := ssoChoicePage{Required: required}
	for _, t := range list {
		href := "/sso/" + t.Slug
		if next != "" {
			href += "?next=" + url.QueryEscape(next)
		}
		page.Choices = append(page.Choices, ssoChoice{Name: t.Name, Product: t.Product.Title(), Href: href})
	}
	return s.render(c, http.StatusOK, "signin_required.html", "Single sign on", page)
}

// startSSO starts an SP-initiated sign-in to tenant t after the browser
// submitted a form, so through an auto-submitting form (see FromForm).
func (s *Server) startSSO(c *gin.Context, t tenants.Tenant, next string) error {
	conn, err := s.tenants.SAMLConnection(c.Request.Context(), t.ID)
	if err != nil {
		return err
	}
	tenants.SetRequestTenant(c.Request.Context(), t.Slug)
	return s.startAuthn(c, authnStart{
		Slug: t.Slug, SSOURL: conn.SSOURL, SSOBinding: conn.SSOBinding, FromForm: true,
		Request: tenants.SAMLRequest{TenantID: &t.ID, RelayState: next},
	})
}

// startAuthn stores a pending AuthnRequest and sends the browser to the
// IdP with it: a 302 with the deflated request for HTTP-Redirect, or an
// auto-submitting form for HTTP-POST.
func (s *Server) startAuthn(c *gin.Context, start authnStart) error {
	ctx := c.Request.Context()
	now := s.now()
	if err := s.limitOpenRequests(c, now); err != nil {
		return err
	}
	sp, err := s.authnServiceProvider(ctx, start, now)
	if err != nil {
		return err
	}
	doc, err := buildAuthnRequest(sp, start.SSOBinding)
	if err != nil {
		return err
	}

	pending := start.Request
	pending.ID = doc.Root().SelectAttrValue("ID", "")
	pending.Slug = start.Slug
	pending.ClientIP = c.ClientIP()
	pending.CreatedAt = now
	pending.ExpiresAt = now.Add(samlRequestTTL)
	if err := s.tenants.CreateSAMLRequest(ctx, pending); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "saml_request_sent", "tenant", start.Slug, "authn_request_id", pending.ID,
		"test", pending.SetupRequestID != nil)

	noStore(c)
	return s.sendAuthnRequest(c, sp, start, doc)
}

// limitOpenRequests purges expired sign-in state and returns a 429 error
// when the client has maxOpenRequestsPerClient requests open.
func (s *Server) limitOpenRequests(c *gin.Context, now time.Time) error {
	ctx := c.Request.Context()
	if err := s.tenants.PurgeSignInState(ctx, now, now.Add(-signInFailureWindow)); err != nil {
		return err
	}
	open, err := s.tenants.CountSAMLRequestsFrom(ctx, c.ClientIP(), now.Add(-samlRequestTTL))
	if err != nil {
		return err
	}
	if open >= maxOpenRequestsPerClient {
		c.Header("Retry-After", "60")
		return userError(http.StatusTooManyRequests, "Too many sign-in attempts from your network. Wait a minute and try again.", nil)
	}
	return nil
}

// authnServiceProvider returns the SP that builds AuthnRequests to
// start's IdP and signs them with the SP key (RSA-SHA256, exclusive
// canonicalization), because some IdPs, Keycloak by default, reject
// unsigned requests. The SP metadata publishes the key's certificate.
//
// NOTE: an IdP that checks every signed request, but was set up by hand
// without gatehouse's certificate, rejects these requests until it loads
// the SP metadata or the certificate.
func (s *Server) authnServiceProvider(ctx context.Context, start authnStart, now time.Time) (*saml2.SAMLServiceProvider, error) {
	key, err := s.spKey(ctx)
	if err != nil {
		return nil, err
	}
	return &saml2.SAMLServiceProvider{
		IdentityProviderSSOURL:         start.SSOURL,
		ServiceProviderIssuer:          s.spEntityID(start.Slug),
		AssertionConsumerServiceURL:    s.acsURL(start.Slug),
		SignAuthnRequests:              true,
		SignAuthnRequestsAlgorithm:     dsig.RSASHA256SignatureMethod,
		SignAuthnRequestsCanonicalizer: dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList(""),
		SPSigningKeyStore:              dsig.TLSCertKeyStore(key.TLSCertificate()),
		Clock:                          dsig.NewFakeClockAt(now),
	}, nil
}

// buildAuthnRequest builds the AuthnRequest for binding. For HTTP-POST it
// carries an enveloped signature. For HTTP-Redirect it has none, because
// that binding signs the query string instead (sendAuthnRequest).
func buildAuthnRequest(sp *saml2.SAMLServiceProvider, binding string) (*etree.Document, error) {
	build := sp.BuildAuthRequestDocumentNoSig
	if binding == saml2.BindingHttpPost {
		build = sp.BuildAuthRequestDocument
	}
	doc, err := build()
	if err != nil {
		return nil, fmt.Errorf("build AuthnRequest: %w", err)
	}
	return doc, nil
}

// sendAuthnRequest sends the browser to the IdP with doc: in a form for
// HTTP-POST, and for HTTP-Redirect to a URL whose query gosaml2 signs,
// with a 302 or, after a form submission, a GET form.
func (s *Server) sendAuthnRequest(c *gin.Context, sp *saml2.SAMLServiceProvider, start authnStart, doc *etree.Document) error {
	if start.SSOBinding == saml2.BindingHttpPost {
		xmlBytes, err := doc.WriteToBytes()
		if err != nil {
			return fmt.Errorf("encode AuthnRequest: %w", err)
		}
		fields := []formField{{Name: "SAMLRequest", Value: base64.StdEncoding.EncodeToString(xmlBytes)}}
		return s.renderAutoSubmit(c, autoSubmit{Method: http.MethodPost, Action: start.SSOURL, Fields: fields})
	}
	target, err := sp.BuildAuthURLRedirect("", doc)
	if err != nil {
		return fmt.Errorf("build AuthnRequest URL: %w", err)
	}
	if start.FromForm {
		return s.renderAutoSubmit(c, getForm(target))
	}
	c.Redirect(http.StatusFound, target)
	return nil
}

// getForm turns a URL into a GET form whose fields are its query, because
// a browser replaces the query of a GET form's action with the fields.
func getForm(target string) autoSubmit {
	u, err := url.Parse(target)
	if err != nil {
		return autoSubmit{Method: http.MethodGet, Action: target}
	}
	var fields []formField
	for name, values := range u.Query() {
		for _, v := range values {
			fields = append(fields, formField{Name: name, Value: v})
		}
	}
	u.RawQuery = ""
	return autoSubmit{Method: http.MethodGet, Action: u.String(), Fields: fields}
}

// renderAutoSubmit renders the form that takes the browser to the IdP,
// allowing the IdP's origin as a form target in the page's CSP.
func (s *Server) renderAutoSubmit(c *gin.Context, form autoSubmit) error {
	allowFormAction(c, form.Action)
	return s.render(c, http.StatusOK, "signin_post.html", "Continuing to your sign-in page", form)
}

// originPattern accepts the scheme and host of a URL as it may appear in a
// CSP source expression: no spaces, quotes or semicolons.
var originPattern = regexp.MustCompile(`^https?://[A-Za-z0-9.\-]+(:[0-9]+)?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]+)?$`)

// allowFormAction adds target's origin to the form-action directive of the
// Content-Security-Policy that the program's middleware set, if any.
func allowFormAction(c *gin.Context, target string) {
	policy := c.Writer.Header().Get("Content-Security-Policy")
	u, err := url.Parse(target)
	if policy == "" || err != nil {
		return
	}
	origin := u.Scheme + "://" + u.Host
	if !originPattern.MatchString(origin) {
		return
	}
	directives := strings.Split(policy, ";")
	for i, d := range directives {
		if strings.HasPrefix(strings.TrimSpace(d), "form-action") {
			directives[i] = " " + strings.TrimSpace(d) + " " + origin
		}
	}
	c.Header("Content-Security-Policy", strings.TrimSpace(strings.Join(directives, ";")))
}

// localPath returns p if it is a path on this site ("/account", not
// "//evil.example" or "https://…"), and "" otherwise. RelayState and next
// parameters go through it before they become a redirect target.
func localPath(p string) string {
	if p == "" || len(p) > 512 || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return p
}

// sealReturn seals a path that contains a link secret, for a pending
// request to carry back to the browser after the IdP answers. The seal is
// bound to the setup request, so openReturn fails for any other.
func (s *Server) sealReturn(path, setupRequestID string) (*secrets.Sealed, error) {
	sealed, err := s.cfg.Keyring.Seal([]byte(path), returnAAD(setupRequestID))
	if err != nil {
		return nil, fmt.Errorf("seal return path: %w", err)
	}
	return &sealed, nil
}

// openReturn opens what sealReturn sealed for the same setup request.
func (s *Server) openReturn(sealed secrets.Sealed, setupRequestID string) (string, error) {
	path, err := s.cfg.Keyring.Open(sealed, returnAAD(setupRequestID))
	if err != nil {
		return "", fmt.Errorf("open return path: %w", err)
	}
	return string(path), nil
}

func returnAAD(setupRequestID string) []byte { return []byte("saml test return " + setupRequestID) }

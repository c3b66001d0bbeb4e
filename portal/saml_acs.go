package portal

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jmoiron/sqlx"
	saml2 "github.com/russellhaering/gosaml2"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// Size limits of the form an IdP posts to the ACS. Real Responses are a
// few kilobytes; one with hundreds of group attributes stays under 1 MiB.
const (
	maxACSBody = 1 << 20
	// maxRelayState is larger than the 80 bytes the SAML bindings allow,
	// because some IdPs send longer values; longer ones are rejected.
	maxRelayState = 1024
)

// acsTarget is the purpose of a Response: a sign-in to a tenant, or a
// contact's test of a setup request. pending is nil for an IdP-initiated
// Response.
type acsTarget struct {
	slug    string
	pending *tenants.SAMLRequest
	tenant  *tenants.Tenant
	setup   *forms.Request
	trust   idpTrust
}

// acs is the assertion consumer service. The IdP's POST is cross-site and
// carries no session cookie, so everything it needs comes from the form
// and the pending request that the Response's InResponseTo names.
func (s *Server) acs(c *gin.Context) error {
	ctx := c.Request.Context()
	slug := c.Param("tenant")
	if !tenants.ValidSlug(slug) {
		return errNotFound
	}
	tenants.SetRequestTenant(ctx, slug)
	noStore(c)

	raw, relayState, fail := readACSForm(c)
	if fail != nil {
		return s.rejectSAML(c, slug, responseScan{}, fail)
	}
	key, err := s.spKey(ctx)
	if err != nil {
		return err
	}
	scan, err := scanResponse(raw, key.TLSCertificate())
	if err != nil {
		return s.rejectSAML(c, slug, scan, asFailure(err))
	}

	target, err := s.acsTarget(ctx, slug, scan)
	var targetFailure *samlFailure
	if errors.As(err, &targetFailure) {
		return s.rejectSAML(c, slug, scan, targetFailure)
	}
	if err != nil {
		return err
	}

	ident, verifyErr := s.verifyForTarget(raw, scan, target, key.TLSCertificate())
	if target.setup != nil {
		return s.finishTest(c, target, scan, ident, verifyErr)
	}
	if verifyErr != nil {
		return s.rejectSAML(c, slug, scan, asFailure(verifyErr))
	}
	return s.finishSignIn(c, target, scan, ident, relayState)
}

// readACSForm reads SAMLResponse and RelayState from a size-limited form.
func readACSForm(c *gin.Context) ([]byte, string, *samlFailure) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxACSBody)
	if err := c.Request.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, "", failure(codeTooLarge, fmt.Sprintf("the posted form is larger than %d bytes", maxACSBody), err)
		}
		return nil, "", failure(codeMalformed, "the posted form could not be read", err)
	}
	form := c.Request.PostForm
	if len(form["SAMLResponse"]) != 1 || len(form["RelayState"]) > 1 {
		return nil, "", failure(codeMalformed, "the form must carry exactly one SAMLResponse and at most one RelayState", nil)
	}
	relayState := form.Get("RelayState")
	if len(relayState) > maxRelayState {
		return nil, "", failure(codeMalformed, fmt.Sprintf("RelayState is longer than %d bytes", maxRelayState), nil)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(form.Get("SAMLResponse")))
	if err != nil || len(raw) == 0 {
		return nil, "", failure(codeMalformed, "SAMLResponse is not base64", err)
	}
	return raw, relayState, nil
}

// acsTarget finds what the Response is for: the pending request its
// InResponseTo names, or, without one, the tenant of the ACS URL when it
// accepts IdP-initiated sign-in.
func (s *Server) acsTarget(ctx context.Context, slug string, scan responseScan) (acsTarget, error) {
	target := acsTarget{slug: slug}
	if scan.InResponseTo == "" {
		t, err := s.tenants.BySlug(ctx, slug)
		if database.IsNotFound(err) {
			return target, errNotFound
		}
		if err != nil {
			return target, err
		}
		if !t.IdPInitiated {
			return target, failure(codeUnsolicited, "the IdP sent a response that gatehouse did not request (IdP-initiated), and "+
				"this company accepts only sign-ins started at gatehouse", nil)
		}
		return s.tenantTarget(ctx, target, t)
	}

	pending, err := s.tenants.SAMLRequest(ctx, scan.InResponseTo, slug, s.now())
	if database.IsNotFound(err) {
		return target, failure(codeInResponseTo, "the response answers a sign-in request that gatehouse did not send, "+
			"that expired, or that was already answered", err)
	}
	if err != nil {
		return target, err
	}
	target.pending = &pending
	if pending.SetupRequestID != nil {
		return s.setupTarget(ctx, target, *pending.SetupRequestID)
	}
	t, err := s.tenants.ByID(ctx, *pending.TenantID)
	if err != nil {
		return target, err
	}
	return s.tenantTarget(ctx, target, t)
}

func (s *Server) tenantTarget(ctx context.Context, target acsTarget, t tenants.Tenant) (acsTarget, error) {
	conn, err := s.tenants.SAMLConnection(ctx, t.ID)
	if database.IsNotFound(err) {
		return target, errNotFound
	}
	if err != nil {
		return target, err
	}
	certs, err := conn.ParsedCertificates()
	if err != nil {
		return target, err
	}
	target.tenant = &t
	target.trust = idpTrust{EntityID: conn.IdPEntityID, Certificates: certs, AllowSHA1: t.AllowSHA1}
	return target, nil
}

func (s *Server) setupTarget(ctx context.Context, target acsTarget, requestID string) (acsTarget, error) {
	req, err := forms.NewStore(s.db).Get(ctx, requestID)
	if err != nil {
		return target, err
	}
	conn := tenants.SAMLConnection{Certificates: req.Certificates}
	certs, err := conn.ParsedCertificates()
	if err != nil {
		return target, err
	}
	target.setup = &req
	target.trust = idpTrust{EntityID: req.IdPEntityID, Certificates: certs}
	return target, nil
}

// verifyForTarget checks the IdP's status and then verifies the Response
// against the target's IdP settings.
func (s *Server) verifyForTarget(raw []byte, scan responseScan, target acsTarget, key tls.Certificate) (samlIdentity, error) {
	if scan.StatusCode != saml2.StatusCodeSuccess {
		return samlIdentity{}, failure(codeStatus, statusReason(scan), nil)
	}
	inResponseTo := ""
	if target.pending != nil {
		inResponseTo = target.pending.ID
	}
	return verifyResponse(raw, scan, responseCheck{
		Trust:        target.trust,
		Audience:     s.spEntityID(target.slug),
		ACSURL:       s.acsURL(target.slug),
		InResponseTo: inResponseTo,
		Key:          key,
		Now:          s.now(),
	})
}

// statusReason describes a non-success status in the IdP's own words.
func statusReason(scan responseScan) string {
	if scan.StatusCode == "" {
		return "the response has no status code"
	}
	reason := "the IdP answered with status " + shortStatus(scan.StatusCode)
	if scan.SubStatusCode != "" {
		reason += " (" + shortStatus(scan.SubStatusCode) + ")"
	}
	if scan.StatusMessage != "" {
		reason += fmt.Sprintf(": %q", scan.StatusMessage)
	}
	return reason
}

// shortStatus drops the common URN prefix of SAML status codes.
func shortStatus(code string) string {
	return strings.TrimPrefix(code, "urn:oasis:names:tc:SAML:2.0:status:")
}

// finishSignIn records the assertion in the replay cache and consumes the
// pending request in one transaction, then signs the user in.
func (s *Server) finishSignIn(c *gin.Context, target acsTarget, scan responseScan, ident samlIdentity, relayState string) error {
	ctx := c.Request.Context()
	err := database.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		store := s.tenants.WithTx(tx)
		fresh, err := store.RecordAssertionID(ctx, target.tenant.ID, ident.AssertionID, ident.ReplayUntil)
		if err != nil {
			return err
		}
		if !fresh {
			return failure(codeReplay, "this assertion was already used to sign in", nil)
		}
		if target.pending == nil {
			return nil
		}
		if err := store.ConsumeSAMLRequest(ctx, target.pending.ID, s.now()); database.IsNotFound(err) {
			return failure(codeInResponseTo, "the sign-in request was already answered", err)
		} else if err != nil {
			return err
		}
		return nil
	})
	var f *samlFailure
	if errors.As(err, &f) {
		return s.rejectSAML(c, target.slug, scan, f)
	}
	if err != nil {
		return err
	}

	next := localPath(relayState)
	if target.pending != nil {
		next = target.pending.RelayState
	} else if relayState != "" && next == "" {
		s.log.InfoContext(ctx, "saml_relay_state_ignored", "tenant", target.slug, "reason", "not a local path")
	}
	return s.signInSAMLUser(c, *target.tenant, ident, next)
}

// rejectSAML logs a rejected Response with its reason and IDs, never its
// content, and shows the user a short page.
func (s *Server) rejectSAML(c *gin.Context, slug string, scan responseScan, f *samlFailure) error {
	attrs := []any{"tenant", slug, "code", f.Code, "reason", f.Reason,
		"response_id", truncate(scan.ResponseID, 100), "in_response_to", truncate(scan.InResponseTo, 100)}
	if f.cause != nil {
		attrs = append(attrs, "cause", truncate(f.cause.Error(), 300))
	}
	s.log.WarnContext(c.Request.Context(), "saml_rejected", attrs...)
	countSignIn("saml", f.Code)

	message := "Your company's sign-in service sent a response that we could not accept, so you are not signed in."
	switch f.Code {
	case codeReplay, codeInResponseTo, codeExpired:
		message = "This sign-in has expired or was already used. Start again to sign in."
	case codeUnsolicited:
		// The user clicked the app's tile in the IdP's dashboard. Rather
		// than accept an assertion that gatehouse did not ask for, start
		// a sign-in of its own: the IdP, where the user is signed in
		// already, responds to it at once. Browsers follow the Refresh header
		// as they do a meta refresh.
		message = "Sign-in from your company's app dashboard starts here. Taking you to your company's sign-in service…"
		c.Header("Refresh", "1; url=/sso/"+slug)
	case codeSessionEnded:
		message = "Your company's sign-in service reports that your session has already ended, so you are not signed in. " +
			"Start again to sign in. If this keeps happening, ask your IT team to check the session lifetime and clock of the sign-in service."
	}
	return s.render(c, f.status(), "signin_failed.html", "We could not sign you in", signInFailedPage{
		Message: message, Code: f.Code, Retry: "/sso/" + slug,
	})
}

// signInFailedPage is the data of signin_failed.html.
type signInFailedPage struct {
	Message string
	Code    string // shown so the user can quote it to their IT team
	Retry   string // path to start again from, or ""
}

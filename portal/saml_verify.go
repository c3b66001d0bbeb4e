package portal

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	saml2 "github.com/russellhaering/gosaml2"
	"github.com/russellhaering/gosaml2/types"
	dsig "github.com/russellhaering/goxmldsig"
)

// clockSkew is how far the IdP's clock may be from ours, in both
// directions, when checking an assertion's validity window.
const clockSkew = 3 * time.Minute

// idpTrust is the IdP configuration a Response must match: the issuer and
// signing certificates from the approved metadata (or, for a test sign-in,
// from the setup request).
type idpTrust struct {
	EntityID     string
	Certificates []*x509.Certificate
	AllowSHA1    bool
}

// responseCheck is everything a Response is verified against.
type responseCheck struct {
	Trust    idpTrust
	Audience string // the SP entity ID
	ACSURL   string
	// InResponseTo is the ID of the pending AuthnRequest, or "" for an
	// IdP-initiated Response.
	InResponseTo string
	Key          tls.Certificate // decrypts encrypted assertions
	Now          time.Time
}

// samlIdentity is the identity a verified assertion asserts, taken only
// from gosaml2's verified result.
type samlIdentity struct {
	AssertionID  string
	NameID       string
	NameIDFormat string
	Attributes   []samlAttribute
	// ReplayUntil is when the assertion stops being acceptable, so its ID
	// can leave the replay cache.
	ReplayUntil time.Time
	// SessionNotOnOrAfter is when the IdP ends the user's session, from the
	// AuthnStatement, or zero when the IdP sets no end.
	SessionNotOnOrAfter time.Time
}

// samlAttribute is one attribute of an assertion with its values.
type samlAttribute struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

// verifyResponse verifies a scanned Response and returns the identity its
// single assertion asserts. The prescan decides nothing in the identity.
func verifyResponse(raw []byte, scan responseScan, chk responseCheck) (samlIdentity, error) {
	if chk.Trust.EntityID == "" || len(chk.Trust.Certificates) == 0 {
		return samlIdentity{}, failure(codeSignature, "no IdP entity ID or signing certificate is configured", nil)
	}
	if scan.usesSHA1() && !chk.Trust.AllowSHA1 {
		return samlIdentity{}, failure(codeSHA1, "the response is signed with SHA-1, which gatehouse rejects; set the IdP to sign with RSA-SHA256", nil)
	}
	if scan.Assertions != 1 {
		return samlIdentity{}, failure(codeAssertionCount, fmt.Sprintf("the response contains %d assertions; exactly one is accepted", scan.Assertions), nil)
	}
	// gosaml2 v0.12.0 decodes one AuthnStatement per assertion, so with
	// several it would read the session end from only one of them.
	if scan.AuthnStatements > 1 {
		return samlIdentity{}, failure(codeMalformed, fmt.Sprintf("the assertion contains %d AuthnStatements, "+
			"but gatehouse accepts at most one because each could end the session at a different time", scan.AuthnStatements), nil)
	}

	resp, err := validateWithCertificates(raw, scan, chk)
	if err != nil {
		return samlIdentity{}, err
	}
	if len(resp.Assertions) != 1 {
		return samlIdentity{}, failure(codeAssertionCount, fmt.Sprintf("the response contains %d signed assertions; exactly one is accepted", len(resp.Assertions)), nil)
	}
	return checkAssertion(resp, &resp.Assertions[0], chk)
}

// validateWithCertificates runs gosaml2 with every trusted certificate. A
// signature without KeyInfo makes goxmldsig give up when it trusts several
// certificates, so then each certificate is tried on its own.
func validateWithCertificates(raw []byte, scan responseScan, chk responseCheck) (*types.Response, error) {
	certs := chk.Trust.Certificates
	if !scan.SignatureWithoutKeyInfo || len(certs) == 1 {
		return validateWithGosaml2(raw, certs, chk)
	}
	var firstErr error
	for _, cert := range certs {
		resp, err := validateWithGosaml2(raw, []*x509.Certificate{cert}, chk)
		if err == nil {
			return resp, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// validateWithGosaml2 runs gosaml2 on a clock clockSkew behind, so that a
// subject confirmation that expired within the skew passes its check,
// which has no skew. A certificate issued within the skew is not yet
// valid on that clock, so then it runs again on the real time.
func validateWithGosaml2(raw []byte, certs []*x509.Certificate, chk responseCheck) (*types.Response, error) {
	resp, err := validateAt(raw, certs, chk, chk.Now.Add(-clockSkew))
	if err != nil && asFailure(err).Code == codeCertificate && issuedWithinSkew(certs, chk.Now) {
		return validateAt(raw, certs, chk, chk.Now)
	}
	return resp, err
}

func issuedWithinSkew(certs []*x509.Certificate, now time.Time) bool {
	for _, c := range certs {
		if c.NotBefore.After(now.Add(-clockSkew)) && !c.NotBefore.After(now) {
			return true
		}
	}
	return false
}

func validateAt(raw []byte, certs []*x509.Certificate, chk responseCheck, clock time.Time) (*types.Response, error) {
	sp := &saml2.SAMLServiceProvider{
		IdentityProviderIssuer:      chk.Trust.EntityID,
		AssertionConsumerServiceURL: chk.ACSURL,
		ServiceProviderIssuer:       chk.Audience,
		AudienceURI:                 chk.Audience,
		IDPCertificateStore:         &dsig.MemoryX509CertificateStore{Roots: certs},
		// gosaml2 decrypts with the deprecated SPKeyStore field only:
		// getDecryptCert (decode_response.go, v0.12.0) never reads the key
		// set by SetSPKeyStore.
		SPKeyStore: dsig.TLSCertKeyStore(chk.Key),
		// gosaml2 checks the subject confirmation's NotOnOrAfter and
		// goxmldsig the certificates' validity on this clock.
		// checkAssertion checks every window again with clockSkew both ways.
		Clock: dsig.NewFakeClockAt(clock),
	}
	resp, err := sp.ValidateEncodedResponse(base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		return nil, classifyLibraryError(err, certs, chk.Now)
	}
	return resp, nil
}

// checkAssertion adds the checks gosaml2 leaves as warnings or skips:
// validity window, audience and InResponseTo.
func checkAssertion(resp *types.Response, a *types.Assertion, chk responseCheck) (samlIdentity, error) {
	if a.ID == "" {
		return samlIdentity{}, failure(codeMalformed, "the assertion has no ID", nil)
	}
	if a.Subject == nil || a.Subject.NameID == nil || strings.TrimSpace(a.Subject.NameID.Value) == "" {
		return samlIdentity{}, failure(codeSubject, "the assertion has no NameID; set the IdP to send the user's email address as the NameID", nil)
	}
	until, err := checkValidity(a, chk.Now)
	if err != nil {
		return samlIdentity{}, err
	}
	if err := checkAudience(a, chk.Audience); err != nil {
		return samlIdentity{}, err
	}
	if err := checkInResponseTo(resp, a, chk.InResponseTo); err != nil {
		return samlIdentity{}, err
	}
	sessionEnd, err := checkSessionEnd(a, chk.Now)
	if err != nil {
		return samlIdentity{}, err
	}
	return samlIdentity{
		AssertionID:         a.ID,
		NameID:              strings.TrimSpace(a.Subject.NameID.Value),
		NameIDFormat:        a.Subject.NameID.Format,
		Attributes:          attributesOf(a),
		ReplayUntil:         until.Add(clockSkew),
		SessionNotOnOrAfter: sessionEnd,
	}, nil
}

// checkSessionEnd returns the AuthnStatement's SessionNotOnOrAfter, or
// zero without one. A session end at or before now is rejected with no
// clock skew, because a session capped at it would already be over.
func checkSessionEnd(a *types.Assertion, now time.Time) (time.Time, error) {
	if a.AuthnStatement == nil || a.AuthnStatement.SessionNotOnOrAfter == nil {
		return time.Time{}, nil
	}
	end := *a.AuthnStatement.SessionNotOnOrAfter
	if !now.Before(end) {
		return time.Time{}, failure(codeSessionEnded, fmt.Sprintf("the AuthnStatement's SessionNotOnOrAfter is %s, but gatehouse's clock reads %s, "+
			"so the IdP's session is over before it starts; check the IdP's session lifetime and clock",
			end.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), nil)
	}
	return end, nil
}

// checkValidity checks the Conditions window and the subject
// confirmation's NotOnOrAfter with clockSkew both ways, and returns the
// latest time at which the assertion is still acceptable.
func checkValidity(a *types.Assertion, now time.Time) (time.Time, error) {
	cond := a.Conditions
	if cond == nil || cond.NotOnOrAfter == "" {
		return time.Time{}, failure(codeExpired, "the assertion has no Conditions NotOnOrAfter, so its lifetime is unbounded", nil)
	}
	if cond.NotBefore != "" {
		notBefore, err := time.Parse(time.RFC3339, cond.NotBefore)
		if err != nil {
			return time.Time{}, failure(codeMalformed, fmt.Sprintf("NotBefore %q is not a valid time", cond.NotBefore), err)
		}
		if now.Add(clockSkew).Before(notBefore) {
			return time.Time{}, failure(codeNotYetValid, fmt.Sprintf("the assertion is valid only from %s, but gatehouse's clock reads %s; check the IdP's clock",
				notBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), nil)
		}
	}
	until, err := time.Parse(time.RFC3339, cond.NotOnOrAfter)
	if err != nil {
		return time.Time{}, failure(codeMalformed, fmt.Sprintf("NotOnOrAfter %q is not a valid time", cond.NotOnOrAfter), err)
	}
	if !now.Add(-clockSkew).Before(until) {
		return time.Time{}, failure(codeExpired, fmt.Sprintf("the assertion expired at %s, and gatehouse's clock reads %s; check the IdP's clock",
			until.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), nil)
	}

	data := confirmationData(a)
	if data == nil {
		return time.Time{}, failure(codeSubject, "the assertion has no SubjectConfirmationData", nil)
	}
	confirmUntil, err := time.Parse(time.RFC3339, data.NotOnOrAfter)
	if err != nil {
		return time.Time{}, failure(codeMalformed, fmt.Sprintf("SubjectConfirmationData NotOnOrAfter %q is not a valid time", data.NotOnOrAfter), err)
	}
	if !now.Add(-clockSkew).Before(confirmUntil) {
		return time.Time{}, failure(codeExpired, fmt.Sprintf("the subject confirmation expired at %s; check the IdP's clock", confirmUntil.UTC().Format(time.RFC3339)), nil)
	}
	if confirmUntil.After(until) {
		until = confirmUntil
	}
	return until, nil
}

// checkAudience requires at least one AudienceRestriction, and every one
// of them to name the SP.
func checkAudience(a *types.Assertion, audience string) error {
	restrictions := a.Conditions.AudienceRestrictions
	if len(restrictions) == 0 {
		return failure(codeAudience, fmt.Sprintf("the assertion has no audience restriction; set the audience (SP entity ID) to %q", audience), nil)
	}
	for _, r := range restrictions {
		var got []string
		matched := false
		for _, aud := range r.Audiences {
			value := strings.TrimSpace(aud.Value)
			got = append(got, value)
			matched = matched || value == audience
		}
		if !matched {
			return failure(codeAudience, fmt.Sprintf("audience expected %q, got %q", audience, strings.Join(got, ", ")), nil)
		}
	}
	return nil
}

// checkInResponseTo binds the assertion to the pending AuthnRequest. The
// binding must be signed: the subject confirmation's InResponseTo, or the
// Response's when the Response itself was signed. An IdP-initiated
// assertion must not answer any request.
func checkInResponseTo(resp *types.Response, a *types.Assertion, want string) error {
	got := ""
	if data := confirmationData(a); data != nil {
		got = data.InResponseTo
	}
	if want == "" {
		if got != "" || resp.InResponseTo != "" {
			return failure(codeInResponseTo, "the response answers a sign-in request that gatehouse did not send", nil)
		}
		return nil
	}
	if got != "" && got != want {
		return failure(codeInResponseTo, fmt.Sprintf("the assertion answers request %q, not %q", got, want), nil)
	}
	if got == want || (resp.SignatureValidated && resp.InResponseTo == want) {
		return nil
	}
	return failure(codeInResponseTo, "the assertion does not say which sign-in request it answers, and the response is not signed", nil)
}

// confirmationData returns the assertion's SubjectConfirmationData, which
// gosaml2 has already required, or nil.
func confirmationData(a *types.Assertion) *types.SubjectConfirmationData {
	if a.Subject == nil || a.Subject.SubjectConfirmation == nil {
		return nil
	}
	return a.Subject.SubjectConfirmation.SubjectConfirmationData
}

// attributesOf lists the assertion's attributes in document order.
func attributesOf(a *types.Assertion) []samlAttribute {
	if a.AttributeStatement == nil {
		return nil
	}
	var out []samlAttribute
	for _, attr := range a.AttributeStatement.Attributes {
		name := attr.Name
		if name == "" {
			name = attr.FriendlyName
		}
		values := make([]string, 0, len(attr.Values))
		for _, v := range attr.Values {
			if v.NameID != nil && v.NameID.Value != "" {
				values = append(values, v.NameID.Value)
			} else {
				values = append(values, strings.TrimSpace(v.Value))
			}
		}
		out = append(out, samlAttribute{Name: name, Values: values})
	}
	return out
}

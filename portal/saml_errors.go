package portal

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	saml2 "github.com/russellhaering/gosaml2"
	dsig "github.com/russellhaering/goxmldsig"
)

// Codes of rejected SAML Responses. Logs, test results and the failure page
// carry the code; Reason states precisely what was wrong.
const (
	codeMalformed      = "malformed"
	codeTooLarge       = "too_large"
	codeDoctype        = "doctype"
	codeDecrypt        = "decrypt"
	codeStatus         = "idp_status"
	codeUnsigned       = "unsigned"
	codeSignature      = "signature"
	codeCertificate    = "certificate_validity"
	codeSHA1           = "sha1"
	codeIssuer         = "issuer"
	codeAudience       = "audience"
	codeDestination    = "destination"
	codeRecipient      = "recipient"
	codeExpired        = "expired"
	codeSessionEnded   = "session_ended"
	codeNotYetValid    = "not_yet_valid"
	codeInResponseTo   = "in_response_to"
	codeUnsolicited    = "unsolicited"
	codeAssertionCount = "assertion_count"
	codeReplay         = "replay"
	codeSubject        = "subject"
)

// samlFailure is a rejected SAML Response: a code from the list above and
// a reason written for the IT contact, who sees it after a test sign-in.
// Reasons name configuration values (issuer, audience, URLs, times) but
// never the NameID, attributes or any part of the assertion's subject.
type samlFailure struct {
	Code   string
	Reason string
	cause  error
}

func (f *samlFailure) Error() string {
	if f.cause != nil {
		return "SAML response rejected (" + f.Code + "): " + f.Reason + ": " + f.cause.Error()
	}
	return "SAML response rejected (" + f.Code + "): " + f.Reason
}

func (f *samlFailure) Unwrap() error { return f.cause }

// status is the HTTP status of the failure page: 400 for a Response that
// cannot be read, 403 for one that was read and refused.
func (f *samlFailure) status() int {
	switch f.Code {
	case codeMalformed, codeTooLarge, codeDoctype:
		return http.StatusBadRequest
	}
	return http.StatusForbidden
}

func failure(code, reason string, cause error) *samlFailure {
	return &samlFailure{Code: code, Reason: reason, cause: cause}
}

// asFailure returns err as a samlFailure, or wraps it as a malformed one.
func asFailure(err error) *samlFailure {
	var f *samlFailure
	if errors.As(err, &f) {
		return f
	}
	return failure(codeMalformed, "the response could not be processed", err)
}

// classifyLibraryError turns an error from gosaml2 or goxmldsig into a
// samlFailure with a reason in the IT contact's terms. The libraries return
// untyped errors for signature problems, so those are told apart by their
// messages (goxmldsig v1.6.1).
func classifyLibraryError(err error, certs []*x509.Certificate, now time.Time) *samlFailure {
	var invalid saml2.ErrInvalidValue
	if errors.As(err, &invalid) {
		return classifyInvalidValue(invalid, err)
	}
	var missing saml2.ErrMissingElement
	if errors.As(err, &missing) {
		return failure(codeMalformed, "the response is missing "+missing.Error()[len("missing "):], err)
	}
	if errors.Is(err, dsig.ErrMissingSignature) {
		return failure(codeUnsigned, "neither the response nor its assertion is signed; set the IdP to sign the assertion or the response", err)
	}

	msg := err.Error()
	switch {
	case strings.Contains(msg, "Cert is not valid at this time"):
		return failure(codeCertificate, certificateValidityReason(certs, now), err)
	case strings.Contains(msg, "Could not verify certificate against trusted certs"):
		return failure(codeSignature, "the signature did not verify with the certificate you gave: the IdP signed with a different certificate", err)
	case strings.Contains(msg, "decrypt"):
		return failure(codeDecrypt, decryptReason, err)
	case strings.Contains(msg, "Signature could not be verified"),
		strings.Contains(msg, "verification error"),
		strings.Contains(msg, "Missing x509 Element"),
		strings.Contains(msg, "Invalid Signature"),
		strings.Contains(msg, "Missing reference"),
		strings.Contains(msg, "signature"),
		strings.Contains(msg, "Signature"):
		return failure(codeSignature, "the signature did not verify with the certificate you gave", err)
	}
	return failure(codeMalformed, "the response could not be verified", err)
}

func classifyInvalidValue(v saml2.ErrInvalidValue, err error) *samlFailure {
	switch v.Key {
	case saml2.IssuerTag:
		return failure(codeIssuer, fmt.Sprintf("issuer expected %q, got %q", v.Expected, v.Actual), err)
	case saml2.DestinationAttr:
		return failure(codeDestination, fmt.Sprintf("destination expected %q, got %q", v.Expected, v.Actual), err)
	case saml2.RecipientAttr:
		return failure(codeRecipient, fmt.Sprintf("recipient expected %q, got %q", v.Expected, v.Actual), err)
	case saml2.NotOnOrAfterAttr:
		return failure(codeExpired, fmt.Sprintf("the subject confirmation expired at %s; check the IdP's clock", v.Actual), err)
	case saml2.StatusCodeTag:
		return failure(codeStatus, "the IdP answered with status "+v.Actual, err)
	case saml2.SubjectConfirmationTag:
		return failure(codeSubject, fmt.Sprintf("subject confirmation method expected %q, got %q", v.Expected, v.Actual), err)
	}
	return failure(codeMalformed, fmt.Sprintf("%s expected %q, got %q", v.Key, v.Expected, v.Actual), err)
}

// certificateValidityReason names the trusted certificates that are not
// valid at now, with their dates.
func certificateValidityReason(certs []*x509.Certificate, now time.Time) string {
	var parts []string
	for _, c := range certs {
		switch {
		case now.After(c.NotAfter):
			parts = append(parts, fmt.Sprintf("the certificate %q expired on %s", c.Subject.CommonName, c.NotAfter.UTC().Format("Jan 2, 2006")))
		case now.Before(c.NotBefore):
			parts = append(parts, fmt.Sprintf("the certificate %q is valid only from %s", c.Subject.CommonName, c.NotBefore.UTC().Format("Jan 2, 2006 15:04 MST")))
		}
	}
	if len(parts) == 0 {
		return "the signing certificate is not valid at this time"
	}
	return strings.Join(parts, "; ") + "; upload the IdP's current metadata"
}

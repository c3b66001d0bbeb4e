package forms

import (
	"fmt"
	"time"
)

// Binding is a SAML 2.0 protocol binding, written as its full URN.
type Binding string

// The SSO bindings gatehouse can send an AuthnRequest over.
const (
	BindingRedirect Binding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	BindingPOST     Binding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
)

// Other bindings that appear in IdP metadata. Gatehouse cannot use them for SSO,
// but names them in messages.
const (
	bindingSOAP       Binding = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP"
	bindingArtifact   Binding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"
	bindingPAOS       Binding = "urn:oasis:names:tc:SAML:2.0:bindings:PAOS"
	bindingSimpleSign Binding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST-SimpleSign"
	bindingURI        Binding = "urn:oasis:names:tc:SAML:2.0:bindings:URI"
)

// ShortName returns the name people use for the binding, such as "HTTP-Redirect",
// or the full value when the binding is not a SAML 2.0 one.
func (b Binding) ShortName() string {
	switch b {
	case BindingRedirect:
		return "HTTP-Redirect"
	case BindingPOST:
		return "HTTP-POST"
	case bindingSOAP:
		return "SOAP"
	case bindingArtifact:
		return "HTTP-Artifact"
	case bindingPAOS:
		return "PAOS"
	case bindingSimpleSign:
		return "HTTP-POST-SimpleSign"
	case bindingURI:
		return "URI"
	}
	return string(b)
}

// Endpoint is an IdP service location together with the binding it accepts.
type Endpoint struct {
	Binding  Binding
	Location string
}

// Certificate is an X.509 certificate the IdP signs SAML messages with, with the
// facts staff and IT contacts need to judge it.
type Certificate struct {
	DER       []byte
	Subject   string
	Issuer    string
	NotBefore time.Time
	NotAfter  time.Time
	// KeyAlgorithm is "RSA", "ECDSA" or "Ed25519" (another value for keys
	// gatehouse cannot use, such as "DSA").
	KeyAlgorithm string
	// KeyBits is the RSA modulus size or the elliptic curve size.
	KeyBits int
	// SignatureAlgorithm is the algorithm the certificate itself is signed with,
	// as crypto/x509 names it, such as "SHA256-RSA".
	SignatureAlgorithm string
	// SHA256Fingerprint is the SHA-256 hash of DER in upper-case hex pairs
	// separated by colons.
	SHA256Fingerprint string
}

// Metadata is the part of an IdP's SAML metadata that gatehouse uses.
type Metadata struct {
	EntityID string
	// SSOEndpoints lists the SingleSignOnService endpoints with a binding
	// gatehouse can use (HTTP-Redirect, HTTP-POST), in document order.
	SSOEndpoints []Endpoint
	// SigningCerts holds every certificate that may sign responses, including
	// expired ones, so that a certificate rollover keeps working.
	SigningCerts []Certificate
	// NameIDFormats holds the advertised NameID formats without surrounding
	// whitespace.
	NameIDFormats []string
	// ValidUntil is the earliest validUntil of the entity and the
	// EntitiesDescriptor elements around it, or nil when none is set.
	ValidUntil *time.Time
	// Signed reports whether an enveloped ds:Signature is on the IdP's
	// EntityDescriptor or on an EntitiesDescriptor around it. The signature
	// is not verified.
	Signed bool
}

// PreferredSSO returns the Redirect endpoint when there is one, else the POST
// endpoint, else the zero Endpoint.
func (m *Metadata) PreferredSSO() Endpoint {
	if m == nil {
		return Endpoint{}
	}

	for _, e := range m.SSOEndpoints {
		if e.Binding == BindingRedirect {
			return e
		}
	}
	for _, e := range m.SSOEndpoints {
		if e.Binding == BindingPOST {
			return e
		}
	}
	return Endpoint{}
}

// Severity is the weight of a Problem: whether it blocks the submission.
type Severity string

// Problem severities. An error blocks the submission; a warning is shown to the
// IT contact and to staff but accepted.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Problem is one finding about submitted SAML settings, written for the IT
// contact.
type Problem struct {
	// Field is the form field the problem belongs to: "metadata" for an
	// uploaded or pasted document, "entity_id", "sso_url" or "certificate" for
	// values entered by hand, "metadata_url" for a failed fetch.
	Field    string
	Severity Severity
	Message  string
}

// Report is the outcome of validating IdP metadata.
type Report struct {
	// Metadata is nil when the input contained no IdP entity to describe. It
	// is set, together with errors, when an IdP entity was found but has
	// problems such as an expired certificate.
	Metadata *Metadata
	Problems []Problem
	// EntityChoices lists the entity IDs of the IdP entities in an aggregate
	// when it has several and none was chosen with ValidateOptions.EntityID,
	// or when the chosen one is not among them.
	EntityChoices []string
}

// HasErrors reports whether any problem has SeverityError.
func (r Report) HasErrors() bool {
	return len(r.Errors()) > 0
}

// Errors returns the problems with SeverityError, in the order found.
func (r Report) Errors() []Problem {
	return r.withSeverity(SeverityError)
}

// Warnings returns the problems with SeverityWarning, in the order found.
func (r Report) Warnings() []Problem {
	return r.withSeverity(SeverityWarning)
}

func (r Report) withSeverity(s Severity) []Problem {
	var out []Problem
	for _, p := range r.Problems {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// ValidateOptions adjusts a validation.
type ValidateOptions struct {
	// Now is the time certificates and validUntil are checked against; the
	// zero value means the current time.
	Now time.Time
	// EntityID chooses one IdP entity when the document holds several. When
	// set, a document without an IdP entity of that ID is an error.
	EntityID string
}

func (o ValidateOptions) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// MaxMetadataBytes is the largest metadata document gatehouse accepts, whether
// uploaded, pasted or fetched. Single-IdP metadata is a few kilobytes; the
// largest in the test corpus (AD FS) is 71 KB.
const MaxMetadataBytes = 1 << 20

// Form field names that problems refer to.
const (
	fieldMetadata    = "metadata"
	fieldEntityID    = "entity_id"
	fieldSSOURL      = "sso_url"
	fieldCertificate = "certificate"
	fieldMetadataURL = "metadata_url"
)

// problemList collects problems in the order they are found.
type problemList []Problem

func (l *problemList) errorf(field, format string, args ...any) {
	*l = append(*l, Problem{Field: field, Severity: SeverityError, Message: fmt.Sprintf(format, args...)})
}

func (l *problemList) warnf(field, format string, args ...any) {
	*l = append(*l, Problem{Field: field, Severity: SeverityWarning, Message: fmt.Sprintf(format, args...)})
}

// ValidateMetadata parses an IdP's SAML 2.0 metadata document and checks that
// gatehouse can sign users in with it. It never returns an error value: every
// finding, including unreadable input, is a Problem in the Report, with Field
// "metadata".
//
// Input larger than MaxMetadataBytes and input containing a DOCTYPE are
// rejected before any XML parsing.
func ValidateMetadata(raw []byte, opts ValidateOptions) Report {
	var problems problemList

	doc, ok := prepareInput(raw, &problems)
	if !ok {
		return Report{Problems: problems}
	}

	root, ok := scanDocument(doc, &problems)
	if !ok {
		return Report{Problems: problems}
	}

	entities, ok := decodeEntities(doc, root, &problems)
	if !ok {
		return Report{Problems: problems}
	}

	chosen, choices, ok := chooseEntity(entities, opts.EntityID, &problems)
	if !ok {
		return Report{Problems: problems, EntityChoices: choices}
	}

	md := describeEntity(chosen, opts.now(), &problems)
	return Report{Metadata: md, Problems: problems}
}

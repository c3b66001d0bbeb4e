package portal

import (
	"regexp"

	"github.com/gatehouse-dev/gatehouse/forms"
)

// The SAML attributes gatehouse reads from an assertion, besides the NameID
// (the user's email address). Every IdP guide in _setup_idp.html maps the
// user's email, given name and family name to these names.
const (
	attributeEmail     = "email"
	attributeFirstName = "firstName"
	attributeLastName  = "lastName"
)

// nameIDFormatEmail is the NameID format gatehouse requests from IdPs.
const nameIDFormatEmail = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"

// spValues are what the contact enters in their IdP: gatehouse's SAML
// service provider values for the tenant slug, and the SCIM endpoint.
type spValues struct {
	Slug        string
	ACSURL      string
	EntityID    string
	MetadataURL string
	SCIMBaseURL string
	// ACSPattern is the ACS URL as an anchored regular expression, the
	// form OneLogin requires.
	ACSPattern   string
	NameIDFormat string
	Attributes   []spAttribute
	// Placeholder is set when no slug is known yet and Slug is a stand-in.
	Placeholder bool
}

// spAttribute is one attribute the IdP should send.
type spAttribute struct {
	Name        string
	Description string
}

// spValuesFor returns the values for a tenant slug; an empty slug gives
// values with a visible placeholder in its place.
func (s *Server) spValuesFor(slug string) spValues {
	v := spValues{Slug: slug}
	if slug == "" {
		v.Slug, v.Placeholder = "your-sign-in-name", true
	}
	base := s.cfg.BaseURL.String()
	v.ACSURL = base + "/saml/" + v.Slug + "/acs"
	// The SP entity ID is the URL of the SP metadata, so an IdP that imports
	// metadata from it gets both at once.
	v.EntityID = base + "/saml/" + v.Slug + "/metadata"
	v.MetadataURL = v.EntityID
	v.SCIMBaseURL = base + "/scim/v2"
	v.ACSPattern = "^" + regexp.QuoteMeta(v.ACSURL) + "$"
	v.NameIDFormat = nameIDFormatEmail
	v.Attributes = []spAttribute{
		{attributeEmail, "the user's email address (the same as the NameID)"},
		{attributeFirstName, "the user's first name (given name)"},
		{attributeLastName, "the user's last name (family name)"},
	}
	return v
}

// idpGuides is what the setup-idp-guides template renders: step-by-step
// instructions for each IdP product, the contact's own opened first.
type idpGuides struct {
	SP     spValues
	Vendor string // a key of forms.IdPVendors, or ""
	SCIM   bool   // include the SCIM provisioning steps
}

// Open reports whether the guide for vendor starts expanded.
func (g idpGuides) Open(vendor string) bool { return g.Vendor == vendor }

// VendorName returns the name of the contact's IdP product.
func (g idpGuides) VendorName() string { return forms.IdPVendorName(g.Vendor) }

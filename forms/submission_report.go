package forms

import (
	"strings"
	"time"
)

// IdPVendors lists the IdP products the setup portal has instructions for,
// by the key stored in setup_requests.idp_vendor, in the order offered.
var IdPVendors = []struct{ Key, Name string }{
	{"okta", "Okta"},
	{"entra", "Microsoft Entra ID (Azure AD)"},
	{"google", "Google Workspace"},
	{"onelogin", "OneLogin"},
	{"jumpcloud", "JumpCloud"},
	{"adfs", "Active Directory Federation Services (AD FS)"},
	{"ping", "PingOne or PingFederate"},
	{"keycloak", "Keycloak"},
	{"other", "Another SAML 2.0 IdP"},
}

// IdPVendorName returns the product name for a key of IdPVendors, or "" for
// an unknown key.
func IdPVendorName(key string) string {
	for _, v := range IdPVendors {
		if v.Key == key {
			return v.Name
		}
	}
	return ""
}

func checkVendor(value string, problems *problemList) string {
	value = strings.TrimSpace(value)
	if value != "" && IdPVendorName(value) == "" {
		problems.errorf(FieldIdPVendor, "Choose your IdP from the list, or Another SAML 2.0 IdP.")
		return ""
	}
	return value
}

// GuessIdPVendor returns the key of the IdP product that usually issues
// entityID, or "" when the entity ID has no telling pattern.
func GuessIdPVendor(entityID string) string {
	id := strings.ToLower(entityID)
	switch {
	case strings.Contains(id, "okta.com"), strings.Contains(id, "oktapreview.com"):
		return "okta"
	case strings.Contains(id, "sts.windows.net"), strings.Contains(id, "login.microsoftonline"):
		return "entra"
	case strings.Contains(id, "accounts.google.com"):
		return "google"
	case strings.Contains(id, "onelogin.com"):
		return "onelogin"
	case strings.Contains(id, "jumpcloud"), id == "idp entity id":
		return "jumpcloud"
	case strings.HasSuffix(id, "/adfs/services/trust"):
		return "adfs"
	case strings.Contains(id, "pingone.com"), strings.Contains(id, "pingidentity.com"):
		return "ping"
	case strings.Contains(id, "/realms/"):
		return "keycloak"
	}
	return ""
}

// StoredReport is the JSON in setup_requests.metadata_report: where the
// SAML settings came from and what the validator found, for staff.
type StoredReport struct {
	// Source is SourceUpload, SourcePaste, SourceURL or SourceManual.
	Source        string              `json:"source"`
	MetadataURL   string              `json:"metadata_url,omitempty"`
	FileName      string              `json:"file_name,omitempty"`
	EntityID      string              `json:"entity_id"`
	SSOEndpoints  []StoredEndpoint    `json:"sso_endpoints"`
	Certificates  []StoredCertificate `json:"certificates"`
	NameIDFormats []string            `json:"name_id_formats,omitempty"`
	ValidUntil    *time.Time          `json:"valid_until,omitempty"`
	Signed        bool                `json:"signed"`
	// Problems holds the warnings the contact accepted; a stored request
	// has no errors.
	Problems  []StoredProblem `json:"problems"`
	CheckedAt time.Time       `json:"checked_at"`
}

// StoredEndpoint is an SSO endpoint in a StoredReport.
type StoredEndpoint struct {
	Binding  string `json:"binding"`
	Location string `json:"location"`
}

// StoredCertificate describes a signing certificate in a StoredReport; the
// DER itself is in setup_requests.certificates.
type StoredCertificate struct {
	Subject            string    `json:"subject"`
	Issuer             string    `json:"issuer"`
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
	KeyAlgorithm       string    `json:"key_algorithm"`
	KeyBits            int       `json:"key_bits"`
	SignatureAlgorithm string    `json:"signature_algorithm"`
	SHA256Fingerprint  string    `json:"sha256_fingerprint"`
}

// StoredProblem is a Problem in a StoredReport.
type StoredProblem struct {
	Field    string   `json:"field"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

func storedCertificate(c Certificate) StoredCertificate {
	return StoredCertificate{
		Subject: c.Subject, Issuer: c.Issuer, NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
		KeyAlgorithm: c.KeyAlgorithm, KeyBits: c.KeyBits, SignatureAlgorithm: c.SignatureAlgorithm,
		SHA256Fingerprint: c.SHA256Fingerprint,
	}
}

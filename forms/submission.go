package forms

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

// Names of the setup form's fields. Problem.Field holds one of them, so a
// page can show each message beside its field.
const (
	FieldCompanyName    = "company_name"
	FieldEmailDomains   = "email_domains"
	FieldProduct        = "product"
	FieldContactName    = "contact_name"
	FieldContactEmail   = "contact_email"
	FieldContactPhone   = "contact_phone"
	FieldTenantSlug     = "tenant_slug"
	FieldIdPVendor      = "idp_vendor"
	FieldMetadataSource = "metadata_source"
	FieldMetadataFile   = "metadata_file"
	FieldMetadata       = fieldMetadata
	FieldMetadataURL    = fieldMetadataURL
	FieldEntityChoice   = "entity_choice"
	FieldEntityID       = fieldEntityID
	FieldSSOURL         = fieldSSOURL
	FieldSSOBinding     = "sso_binding"
	FieldCertificate    = fieldCertificate
	FieldSCIM           = "scim"
	FieldAutoprovision  = "autoprovision"
	FieldNotes          = "notes"
)

// fieldOrder is the order of the fields on the form, which is the order of
// the error summary.
var fieldOrder = []string{
	FieldCompanyName, FieldEmailDomains, FieldProduct, FieldContactName, FieldContactEmail,
	FieldContactPhone, FieldTenantSlug, FieldIdPVendor, FieldMetadataSource, FieldMetadataFile,
	FieldMetadata, FieldMetadataURL, FieldEntityChoice, FieldEntityID, FieldSSOURL, FieldSSOBinding,
	FieldCertificate, FieldSCIM, FieldAutoprovision, FieldNotes,
}

// Ways the contact gives their IdP's SAML settings.
const (
	SourceUpload = "upload"
	SourcePaste  = "paste"
	SourceURL    = "url"
	SourceManual = "manual"
)

// SubmissionInput is the setup form as the contact filled it in, before
// validation. Text fields are kept as typed, so a form with problems can be
// shown again unchanged.
type SubmissionInput struct {
	CompanyName  string
	EmailDomains string // separated by commas, spaces or line breaks
	Product      string // "meal_program" or "marketplace"
	ContactName  string
	ContactEmail string
	ContactPhone string
	TenantSlug   string // empty: derived from CompanyName when stored
	IdPVendor    string // a key of IdPVendors, or empty

	MetadataSource string // SourceUpload, SourcePaste, SourceURL or SourceManual
	// MetadataXML is the uploaded, pasted or fetched document.
	MetadataXML      string
	MetadataFileName string
	MetadataFileType string // the upload's Content-Type
	MetadataFileSize int64  // the upload's size, also when too large to read
	MetadataURL      string
	EntityChoice     string // the entity ID chosen from an aggregate
	EntityID         string
	SSOURL           string
	SSOBinding       string // "HTTP-Redirect" or "HTTP-POST"
	Certificate      string

	SCIM          string // "yes" or "no"
	RequireSSO    bool
	Autoprovision bool
	Notes         string
}

// Submission is a validated SubmissionInput, ready to store.
type Submission struct {
	CompanyName   string
	EmailDomains  []string // lowercase ASCII (IDNA) names, without duplicates
	Product       tenants.Product
	ContactName   string
	ContactEmail  string
	ContactPhone  string
	TenantSlug    string
	IdPVendor     string
	MetadataXML   string // verbatim; empty when entered by hand
	Report        Report
	SCIMRequested bool
	RequireSSO    bool
	Autoprovision bool
	Notes         string
	// ContactOutsideDomains is set when ContactEmail's domain is none of
	// EmailDomains nor a subdomain of one.
	ContactOutsideDomains bool

	source      string
	metadataURL string
	fileName    string
	checkedAt   time.Time
}

// SubmissionOptions adjusts ValidateSubmission.
type SubmissionOptions struct {
	// Now is the time certificates are checked against; zero means now.
	Now time.Time
	// Fetch downloads the document at a metadata URL; nil means a zero
	// Fetcher. Its errors are shown to the contact, so they must be safe to
	// show, as FetchError messages are.
	Fetch func(ctx context.Context, url string) ([]byte, error)
}

// Problems are the findings on a submitted form, in the order of the form's
// fields.
type Problems []Problem

// HasErrors reports whether any problem blocks the submission.
func (p Problems) HasErrors() bool { return len(p.Errors()) > 0 }

// Errors returns the problems with SeverityError.
func (p Problems) Errors() Problems { return p.withSeverity(SeverityError) }

// Warnings returns the problems with SeverityWarning.
func (p Problems) Warnings() Problems { return p.withSeverity(SeverityWarning) }

// Field returns the problems of one field.
func (p Problems) Field(name string) Problems {
	var out Problems
	for _, x := range p {
		if x.Field == name {
			out = append(out, x)
		}
	}
	return out
}

func (p Problems) withSeverity(s Severity) Problems {
	var out Problems
	for _, x := range p {
		if x.Severity == s {
			out = append(out, x)
		}
	}
	return out
}

// sorted returns the problems in form order, keeping the order within a field.
func (p Problems) sorted() Problems {
	var out Problems
	for _, field := range fieldOrder {
		out = append(out, p.Field(field)...)
	}
	for _, x := range p {
		if !contains(fieldOrder, x.Field) {
			out = append(out, x)
		}
	}
	return out
}

// ValidateSubmission checks every field of the setup form and the IdP's SAML
// settings. It fetches the metadata URL when the contact chose that source.
// The Submission is usable only when the Problems have no error; warnings
// are kept with it for staff.
func ValidateSubmission(ctx context.Context, in SubmissionInput, opts SubmissionOptions) (Submission, Problems) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	var problems problemList
	sub := Submission{checkedAt: opts.Now}

	validateCompany(in, &sub, &problems)
	validateContact(in, &sub, &problems)
	validateSettings(in, &sub, &problems)
	validateSAML(ctx, in, opts, &sub, &problems)
	return sub, Problems(problems).sorted()
}

func validateCompany(in SubmissionInput, sub *Submission, problems *problemList) {
	sub.CompanyName = checkText(in.CompanyName, FieldCompanyName, "your company's name", maxNameLength, true, problems)
	sub.EmailDomains = checkDomains(in.EmailDomains, problems)

	switch p := tenants.Product(strings.TrimSpace(in.Product)); {
	case p == "":
		problems.errorf(FieldProduct, "Choose the product your company is joining: Meal Program or Marketplace.")
	case !p.Valid():
		problems.errorf(FieldProduct, "Choose Meal Program or Marketplace.")
	default:
		sub.Product = p
	}

	sub.TenantSlug = checkSlug(in.TenantSlug, problems)
	sub.IdPVendor = checkVendor(in.IdPVendor, problems)
}

func validateContact(in SubmissionInput, sub *Submission, problems *problemList) {
	sub.ContactName = checkText(in.ContactName, FieldContactName, "your name", maxNameLength, true, problems)
	sub.ContactEmail = checkEmail(in.ContactEmail, problems)
	sub.ContactPhone = checkPhone(in.ContactPhone, problems)

	if sub.ContactEmail != "" && len(sub.EmailDomains) > 0 && !inDomains(sub.ContactEmail, sub.EmailDomains) {
		sub.ContactOutsideDomains = true
		problems.warnf(FieldContactEmail, "%s is not in the email domains you listed (%s). You can continue: "+
			"the implementations team will confirm that you speak for %s before approving.",
			sub.ContactEmail, strings.Join(sub.EmailDomains, ", "), orDefault(sub.CompanyName, "the company"))
	}
}

func validateSettings(in SubmissionInput, sub *Submission, problems *problemList) {
	switch strings.TrimSpace(in.SCIM) {
	case "yes":
		sub.SCIMRequested = true
	case "no":
	default:
		problems.errorf(FieldSCIM, "Choose whether your IdP should create and update users over SCIM: Yes or No.")
	}
	if sub.SCIMRequested && sub.IdPVendor == "google" {
		problems.warnf(FieldSCIM, "Google Workspace does not provision custom SAML apps over SCIM. "+
			"Choose No unless you will use another provisioning tool.")
	}
	if sub.SCIMRequested && (sub.IdPVendor == "adfs" || sub.IdPVendor == "keycloak") {
		problems.warnf(FieldSCIM, "%s has no built-in SCIM client. Choose No unless you will use another provisioning tool.",
			IdPVendorName(sub.IdPVendor))
	}

	sub.RequireSSO = in.RequireSSO
	sub.Autoprovision = in.Autoprovision
	if in.Autoprovision && !sub.SCIMRequested && strings.TrimSpace(in.SCIM) == "no" {
		problems.errorf(FieldAutoprovision, "Autoprovisioning emails a welcome message to users your IdP creates over SCIM, "+
			"so it needs SCIM. Choose Yes for SCIM, or clear this box.")
	}
	sub.Notes = checkText(in.Notes, FieldNotes, "notes", maxNotesLength, false, problems)
}

// metadataReport is the JSON stored in setup_requests.metadata_report. It
// is a string because a []byte parameter would be sent as binary jsonb
// when the connection uses binary parameters.
func (s Submission) metadataReport() string {
	report := StoredReport{
		Source:      s.source,
		MetadataURL: s.metadataURL,
		FileName:    s.fileName,
		CheckedAt:   s.checkedAt.UTC(),
	}
	if md := s.Report.Metadata; md != nil {
		report.EntityID = md.EntityID
		report.NameIDFormats = md.NameIDFormats
		report.ValidUntil = md.ValidUntil
		report.Signed = md.Signed
		for _, e := range md.SSOEndpoints {
			report.SSOEndpoints = append(report.SSOEndpoints, StoredEndpoint{Binding: string(e.Binding), Location: e.Location})
		}
		for _, c := range md.SigningCerts {
			report.Certificates = append(report.Certificates, storedCertificate(c))
		}
	}
	for _, p := range s.Report.Problems {
		report.Problems = append(report.Problems, StoredProblem(p))
	}
	out, _ := json.Marshal(report)
	return string(out)
}

func orDefault(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

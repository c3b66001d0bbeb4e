package forms

import (
	"context"
	"strings"
	"unicode/utf8"
)

// uploadTypes are the Content-Types a metadata upload may have. Browsers
// label .xml files as text/xml or application/xml and files without a known
// extension as application/octet-stream; certificates (.cer, .pem, .crt) are
// let through so the validator can explain that a certificate is not
// metadata.
var uploadTypes = map[string]bool{
	"": true, "application/octet-stream": true, "text/plain": true,
	"text/xml": true, "application/xml": true, "application/samlmetadata+xml": true,
	"application/x-x509-ca-cert": true, "application/pkix-cert": true, "application/x-pem-file": true,
}

// validateSAML checks the IdP's SAML settings from the source the contact
// chose, and records the source for staff.
func validateSAML(ctx context.Context, in SubmissionInput, opts SubmissionOptions, sub *Submission, problems *problemList) {
	sub.source = strings.TrimSpace(in.MetadataSource)
	validate := ValidateOptions{Now: opts.Now, EntityID: strings.TrimSpace(in.EntityChoice)}

	switch sub.source {
	case SourceUpload:
		if !checkUpload(in, problems) {
			return
		}
		sub.fileName = in.MetadataFileName
		sub.MetadataXML = in.MetadataXML
	case SourcePaste:
		if strings.TrimSpace(in.MetadataXML) == "" {
			problems.errorf(FieldMetadata, "Paste your IdP's metadata XML, which starts with <?xml or <md:EntityDescriptor.")
			return
		}
		sub.MetadataXML = in.MetadataXML
	case SourceURL:
		xml, ok := fetchMetadata(ctx, in.MetadataURL, opts, problems)
		if !ok {
			return
		}
		sub.metadataURL = strings.TrimSpace(in.MetadataURL)
		sub.MetadataXML = xml
	case SourceManual:
		sub.Report = ValidateManual(in.EntityID, in.SSOURL, manualBinding(in.SSOBinding), in.Certificate, validate)
		appendReport(sub.Report, "", problems)
		return
	default:
		problems.errorf(FieldMetadataSource, "Choose how you will give us your IdP's SAML settings: "+
			"upload the metadata file, paste it, give its URL, or enter the values by hand.")
		return
	}

	field := FieldMetadata
	switch sub.source {
	case SourceURL:
		field = FieldMetadataURL
	case SourceUpload:
		// Problems of the document itself belong beside the paste box, where
		// the form puts an uploaded document when it is shown again; a file
		// that is not text stays with the file input.
		if !utf8.ValidString(sub.MetadataXML) && !hasUnicodeBOM(sub.MetadataXML) {
			field = FieldMetadataFile
		}
	}
	if !utf8.ValidString(sub.MetadataXML) && !hasUnicodeBOM(sub.MetadataXML) {
		problems.errorf(field, "The metadata is not UTF-8 text. Export it from your IdP again as an XML file.")
		return
	}
	sub.Report = ValidateMetadata([]byte(sub.MetadataXML), validate)
	appendReport(sub.Report, field, problems)
	if len(sub.Report.EntityChoices) > 0 {
		problems.errorf(FieldEntityChoice, "Choose which IdP entity in the metadata is yours.")
	}
}

// appendReport adds the validator's problems to the form's. Problems about
// the whole document go to documentField, the field that holds it: the
// paste box, or the URL field when the document was fetched. An empty
// documentField keeps the validator's fields.
func appendReport(r Report, documentField string, problems *problemList) {
	for _, p := range r.Problems {
		if documentField != "" && p.Field == FieldMetadata {
			p.Field = documentField
		}
		*problems = append(*problems, p)
	}
}

func checkUpload(in SubmissionInput, problems *problemList) bool {
	name := orDefault(in.MetadataFileName, "The file")
	switch {
	case in.MetadataFileSize > MaxMetadataBytes:
		problems.errorf(FieldMetadataFile, "%s is %s, but metadata may be at most %s. Choose the metadata "+
			"of your IdP's SAML app, not a larger export.", name, formatSize(int(in.MetadataFileSize)), formatSize(MaxMetadataBytes))
		return false
	case in.MetadataFileName != "" && in.MetadataXML == "":
		problems.errorf(FieldMetadataFile, "%s is empty. Download the metadata from your IdP again.", name)
		return false
	case in.MetadataXML == "":
		problems.errorf(FieldMetadataFile, "Choose your IdP's metadata file (usually metadata.xml), "+
			"or choose another option to paste it or enter the values by hand.")
		return false
	}
	kind := strings.ToLower(strings.TrimSpace(strings.Split(in.MetadataFileType, ";")[0]))
	if !uploadTypes[kind] {
		problems.errorf(FieldMetadataFile, "%s is a %s file, not SAML metadata. Choose the XML metadata file "+
			"your IdP exports.", name, kind)
		return false
	}
	return true
}

func fetchMetadata(ctx context.Context, rawURL string, opts SubmissionOptions, problems *problemList) (string, bool) {
	rawURL = strings.TrimSpace(rawURL)
	switch {
	case rawURL == "":
		problems.errorf(FieldMetadataURL, "Enter the URL of your IdP's metadata, starting with https://.")
		return "", false
	case len(rawURL) > maxURLLength:
		problems.errorf(FieldMetadataURL, "Enter a URL of at most %d characters.", maxURLLength)
		return "", false
	}

	fetch := opts.Fetch
	if fetch == nil {
		fetch = (&Fetcher{}).Fetch
	}
	body, err := fetch(ctx, rawURL)
	if err != nil {
		problems.errorf(FieldMetadataURL, "%s", err.Error())
		return "", false
	}
	return string(body), true
}

// manualBinding maps the form's binding choice to its URN; anything else is
// passed on for ValidateManual to reject.
func manualBinding(v string) Binding {
	switch strings.TrimSpace(v) {
	case "", "HTTP-Redirect":
		return BindingRedirect
	case "HTTP-POST":
		return BindingPOST
	}
	return Binding(v)
}

// hasUnicodeBOM reports whether s starts with a UTF-16 byte order mark; the
// validator decodes such documents itself.
func hasUnicodeBOM(s string) bool {
	return strings.HasPrefix(s, "\xff\xfe") || strings.HasPrefix(s, "\xfe\xff")
}

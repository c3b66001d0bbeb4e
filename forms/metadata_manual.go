package forms

import (
	"bytes"
	"encoding/pem"
	"strings"
)

// maxCertificateFieldBytes bounds the certificate form field: a PEM chain of a
// few 4096-bit RSA certificates stays well under it.
const maxCertificateFieldBytes = 64 << 10

// ValidateManual checks values typed by hand instead of uploading metadata.
// They are the IdP entity ID, the SSO URL with its binding (HTTP-Redirect
// when binding is empty), and the signing certificate. The certificate may be
// PEM, with one or more CERTIFICATE blocks, or bare base64 of the DER.
//
// The Report has the same shape as ValidateMetadata's, with problems on the
// fields "entity_id", "sso_url" and "certificate". Its Metadata is nil only
// when all three values are empty.
func ValidateManual(entityID, ssoURL string, binding Binding, certificate string, opts ValidateOptions) Report {
	var problems problemList
	entityID = strings.TrimSpace(entityID)
	ssoURL = strings.TrimSpace(ssoURL)

	checkEntityID(entityID, fieldEntityID, &problems)
	md := &Metadata{EntityID: entityID}

	if binding == "" {
		binding = BindingRedirect
	}
	switch {
	case binding != BindingRedirect && binding != BindingPOST:
		problems.errorf(fieldSSOURL, "The SSO binding %q is not supported. Choose HTTP-Redirect or HTTP-POST.",
			binding.ShortName())
	case ssoURL == "":
		problems.errorf(fieldSSOURL, "Enter your IdP's SSO URL (also called sign-in URL or SAML endpoint), "+
			"for example https://idp.example.com/sso/saml.")
	case checkSSOLocation(ssoURL, "The SSO URL", fieldSSOURL, &problems):
		md.SSOEndpoints = []Endpoint{{Binding: binding, Location: ssoURL}}
	}

	md.SigningCerts = parseCertificateField(certificate, &problems)
	checkCertificates(md.SigningCerts, opts.now(), fieldCertificate, &problems)

	if entityID == "" && ssoURL == "" && strings.TrimSpace(certificate) == "" {
		md = nil
	}
	return Report{Metadata: md, Problems: problems}
}

// parseCertificateField reads the certificate form field: PEM blocks, or bare
// base64 of one DER certificate.
func parseCertificateField(text string, problems *problemList) []Certificate {
	trimmed := strings.TrimSpace(text)
	switch {
	case trimmed == "":
		problems.errorf(fieldCertificate, "Paste your IdP's signing certificate, either as PEM "+
			"(starting with -----BEGIN CERTIFICATE-----) or as the base64 text alone.")
		return nil
	case len(trimmed) > maxCertificateFieldBytes:
		problems.errorf(fieldCertificate, "The certificate field holds %s, more than the %s a signing certificate "+
			"needs. Paste only the IdP's signing certificate.", formatSize(len(trimmed)), formatSize(maxCertificateFieldBytes))
		return nil
	case strings.HasPrefix(trimmed, "<"):
		problems.errorf(fieldCertificate, "This looks like XML metadata, not a certificate. Upload it in the "+
			"metadata field instead, or paste only the text of its X509Certificate element here.")
		return nil
	case privateKeyLabel(trimmed) != "":
		problems.errorf(fieldCertificate, "The certificate field contains a private key (-----BEGIN %s-----). "+
			"Never send a private key: remove it and tell your security team it was exposed. "+
			"Paste the IdP's public signing certificate instead.", privateKeyLabel(trimmed))
		return nil
	case !strings.Contains(trimmed, "-----BEGIN"):
		return parseCertificateEntries([]string{trimmed}, fieldCertificate, problems)
	}
	return parsePEMCertificates([]byte(trimmed), problems)
}

// parsePEMCertificates reads every PEM block of the field. Only CERTIFICATE
// blocks are accepted.
func parsePEMCertificates(rest []byte, problems *problemList) []Certificate {
	var blocks []*pem.Block
	for {
		block, next := pem.Decode(rest)
		if block == nil {
			break
		}
		blocks = append(blocks, block)
		rest = next
	}

	if len(blocks) == 0 {
		problems.errorf(fieldCertificate, "The certificate is incomplete PEM: it needs both the "+
			"-----BEGIN CERTIFICATE----- and the -----END CERTIFICATE----- line with the base64 text between them. "+
			"Copy the whole certificate again.")
		return nil
	}
	if len(blocks) > maxSigningCerts {
		problems.errorf(fieldCertificate, "The certificate field holds %d PEM blocks, more than the %d gatehouse "+
			"accepts. Paste only the IdP's signing certificate.", len(blocks), maxSigningCerts)
		return nil
	}

	var certs []Certificate
	for i, block := range blocks {
		if der, ok := certificateBlock(block, entryName(i, len(blocks)), problems); ok {
			c, ok := parseCertificateDER(der, entryName(i, len(blocks)), fieldCertificate, problems)
			if ok && !containsCert(certs, c) {
				certs = append(certs, c)
			}
		}
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		problems.warnf(fieldCertificate, "The certificate field has text after the last -----END----- line, "+
			"which gatehouse ignores.")
	}
	return certs
}

func certificateBlock(block *pem.Block, name string, problems *problemList) ([]byte, bool) {
	if block.Type == "CERTIFICATE" {
		return block.Bytes, true
	}
	problems.errorf(fieldCertificate, "%s is a PEM %s block, not a certificate. Paste the IdP's signing "+
		"certificate, which starts with -----BEGIN CERTIFICATE-----.", name, block.Type)
	return nil, false
}

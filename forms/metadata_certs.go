package forms

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

// maxSigningCerts bounds the certificates read from one IdP. IdPs publish one,
// or two or three during a rollover.
// NOTE: 10 is a judgment call, not a number from a standard or a vendor.
const maxSigningCerts = 10

// Key sizes in bits. Go's crypto/rsa refuses to verify with RSA keys under
// 1024 bits (Go 1.24 and later), and NIST SP 800-131A disallows under 2048.
const (
	minRSABits         = 1024
	recommendedRSABits = 2048
)

// collectSigningCerts parses the certificates of the role's signing keys (a
// KeyDescriptor with use="signing" or without use) and checks them.
func collectSigningCerts(role idpRoleXML, now time.Time, problems *problemList) []Certificate {
	var entries []string
	encryptionOnly := false

	for i, kd := range role.KeyDescriptors {
		certs := kd.KeyInfo.X509Data.X509Certificates
		switch use := strings.TrimSpace(kd.Use); use {
		case "", "signing":
		case "encryption":
			encryptionOnly = encryptionOnly || len(certs) > 0
			continue
		default:
			problems.warnf(fieldMetadata, "KeyDescriptor %d has use=%q, which is neither \"signing\" nor \"encryption\", "+
				"so gatehouse ignores it.", i+1, use)
			continue
		}

		if len(certs) == 0 {
			problems.warnf(fieldMetadata, "Signing KeyDescriptor %d has no X509Certificate, so gatehouse ignores it: "+
				"it needs the key as an X.509 certificate.", i+1)
			continue
		}
		for _, c := range certs {
			entries = append(entries, c.Data)
		}
	}

	if len(entries) == 0 {
		reportNoSigningCert(encryptionOnly, problems)
		return nil
	}
	if len(entries) > maxSigningCerts {
		problems.errorf(fieldMetadata, "The metadata has %d signing certificates, more than the %d gatehouse accepts. "+
			"Remove old certificates from your IdP and download the metadata again.", len(entries), maxSigningCerts)
		return nil
	}

	certs := parseCertificateEntries(entries, fieldMetadata, problems)
	checkCertificates(certs, now, fieldMetadata, problems)
	return certs
}

func reportNoSigningCert(encryptionOnly bool, problems *problemList) {
	if encryptionOnly {
		problems.errorf(fieldMetadata, "The metadata has only an encryption certificate (use=\"encryption\"), "+
			"which cannot verify your IdP's signatures. Make sure your IdP publishes its signing certificate. "+
			sendMetadataAgain)
		return
	}
	problems.errorf(fieldMetadata, "The metadata has no signing certificate, so gatehouse cannot verify that "+
		"sign-ins come from your IdP. Copy or download the complete metadata, not a part of it. "+sendMetadataAgain)
}

// parseCertificateEntries decodes base64 certificate texts, reporting each
// entry that is not a DER X.509 certificate by its position, and drops
// repeated certificates.
func parseCertificateEntries(entries []string, field string, problems *problemList) []Certificate {
	var certs []Certificate
	for i, text := range entries {
		name := entryName(i, len(entries))
		der, ok := decodeCertificateText(text, name, field, problems)
		if !ok {
			continue
		}
		if c, ok := parseCertificateDER(der, name, field, problems); ok && !containsCert(certs, c) {
			certs = append(certs, c)
		}
	}
	return certs
}

// entryName names certificate entry i of n in messages.
func entryName(i, n int) string {
	if n == 1 {
		return "The signing certificate"
	}
	return fmt.Sprintf("Signing certificate %d of %d", i+1, n)
}

// decodeCertificateText decodes the base64 text of an X509Certificate.
func decodeCertificateText(text, name, field string, problems *problemList) ([]byte, bool) {
	fix := sendCertificateAgain(field)

	if strings.TrimSpace(text) == "" {
		problems.errorf(field, "%s is empty. %s", name, fix)
		return nil, false
	}
	if strings.Contains(text, "-----BEGIN") {
		problems.errorf(field, "%s contains PEM header lines (-----BEGIN ...-----), but an X509Certificate element "+
			"must hold only the base64 text between them. %s", name, fix)
		return nil, false
	}

	der, err := decodeBase64(text)
	if err != nil {
		problems.errorf(field, "%s is not valid base64, so it may have been damaged while copying. %s", name, fix)
		return nil, false
	}
	if bytes.HasPrefix(bytes.TrimSpace(der), []byte("-----BEGIN")) {
		problems.errorf(field, "%s is not a DER certificate: its base64 decodes to PEM text (%q) instead. "+
			"The X509Certificate element must hold only the base64 lines between -----BEGIN CERTIFICATE----- and "+
			"-----END CERTIFICATE-----. %s", name, string(firstLine(bytes.TrimSpace(der))), fix)
		return nil, false
	}
	return der, true
}

// parseCertificateDER parses a DER X.509 certificate.
func parseCertificateDER(der []byte, name, field string, problems *problemList) (Certificate, bool) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		problems.errorf(field, "%s is not a valid X.509 certificate (%s). %s",
			name, strings.TrimPrefix(err.Error(), "x509: "), sendCertificateAgain(field))
		return Certificate{}, false
	}
	return describeCertificate(c), true
}

func describeCertificate(c *x509.Certificate) Certificate {
	algorithm, bits := keyAlgorithm(c)
	return Certificate{
		DER:                c.Raw,
		Subject:            tenants.FormatName(c.Subject),
		Issuer:             tenants.FormatName(c.Issuer),
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotAfter.UTC(),
		KeyAlgorithm:       algorithm,
		KeyBits:            bits,
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		SHA256Fingerprint:  fingerprint(c.Raw),
	}
}

// keyAlgorithm names a certificate's public key type and size.
func keyAlgorithm(c *x509.Certificate) (string, int) {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ECDSA", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	}
	return c.PublicKeyAlgorithm.String(), 0
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	pairs := make([]string, len(sum))
	for i, b := range sum {
		pairs[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(pairs, ":")
}

func containsCert(list []Certificate, c Certificate) bool {
	for _, x := range list {
		if x.SHA256Fingerprint == c.SHA256Fingerprint {
			return true
		}
	}
	return false
}

package forms

import (
	"crypto/x509"
	"strconv"
	"time"
)

// weakSignatureAlgorithms are certificate signature algorithms built on SHA-1
// or older hashes.
var weakSignatureAlgorithms = map[string]bool{
	x509.SHA1WithRSA.String():   true,
	x509.DSAWithSHA1.String():   true,
	x509.ECDSAWithSHA1.String(): true,
	x509.MD5WithRSA.String():    true,
	x509.MD2WithRSA.String():    true,
}

// sendMetadataAgain ends a message that needs new metadata from the contact.
// It names every way the setup form takes metadata, because the contact may
// have pasted the XML or given a URL instead of uploading a file.
const sendMetadataAgain = "Send us your IdP's current metadata again, as an uploaded file, as pasted XML or by its URL."

// sendCertificateAgain returns the step that replaces a certificate on
// field. A certificate entered by hand is pasted again, and one from
// metadata arrives with new metadata.
func sendCertificateAgain(field string) string {
	if field == fieldCertificate {
		return "Copy the current signing certificate from your IdP and paste it again."
	}
	return sendMetadataAgain
}

// checkCertificates reports validity and strength problems of the signing
// certificates. An expired or not yet valid certificate is an error only when
// no certificate is valid at now. Beside a valid one, it is a rollover
// leftover or a planned successor, so it gets a warning.
func checkCertificates(certs []Certificate, now time.Time, field string, problems *problemList) {
	anyValid := false
	for _, c := range certs {
		anyValid = anyValid || isValidAt(c, now)
	}

	for i, c := range certs {
		label := certificateLabel(certs, i)
		checkValidity(c, label, now, anyValid, field, problems)
		if isValidAt(c, now) && c.NotAfter.Sub(now) < expiryWarningWindow && !outlivedBy(certs, i, now) {
			problems.warnf(field, "The signing certificate %s expires on %s, in %s. Create its successor in your IdP "+
				"now and send us the new metadata before that date, or sign-in will stop working.",
				label, formatDate(c.NotAfter), formatDays(c.NotAfter.Sub(now)))
		}
		checkStrength(c, label, field, problems)
	}
}

func isValidAt(c Certificate, now time.Time) bool {
	return !now.Before(c.NotBefore) && !now.After(c.NotAfter)
}

// outlivedBy reports whether another certificate is valid now and stays valid
// past the warning window, so certificate i's expiry does not interrupt
// sign-in.
func outlivedBy(certs []Certificate, i int, now time.Time) bool {
	for j, c := range certs {
		if j != i && isValidAt(c, now) && c.NotAfter.Sub(now) >= expiryWarningWindow {
			return true
		}
	}
	return false
}

func checkValidity(c Certificate, label string, now time.Time, anyValid bool, field string, problems *problemList) {
	switch {
	case now.After(c.NotAfter) && anyValid:
		problems.warnf(field, "The signing certificate %s expired on %s. Signatures made with it are rejected, "+
			"but another signing certificate is still valid. Remove the expired one from your IdP when convenient.",
			label, formatDate(c.NotAfter))
	case now.After(c.NotAfter):
		problems.errorf(field, "The signing certificate %s expired on %s. If your IdP still signs with it, "+
			"create a new signing certificate there first. %s",
			label, formatDate(c.NotAfter), sendCertificateAgain(field))
	case now.Before(c.NotBefore) && anyValid:
		problems.warnf(field, "The signing certificate %s is not valid until %s. Gatehouse will accept signatures "+
			"made with it from then on.", label, formatDate(c.NotBefore))
	case now.Before(c.NotBefore):
		problems.errorf(field, "The signing certificate %s is not valid until %s, and no other signing certificate "+
			"is valid now. Check your IdP's certificate settings and the clock of the computer that created it.",
			label, formatDate(c.NotBefore))
	}
}

// checkStrength reports weak or unusable keys and SHA-1 certificate
// signatures. A certificate's own signature plays no part in checking SAML
// signatures, which is why SHA-1 there is only a warning.
func checkStrength(c Certificate, label, field string, problems *problemList) {
	switch {
	case c.KeyAlgorithm == "RSA" && c.KeyBits < minRSABits:
		problems.errorf(field, "The signing certificate %s has a %d-bit RSA key, too short to verify signatures with. "+
			"Create a certificate with a 2048-bit or longer key in your IdP and send us the new metadata.",
			label, c.KeyBits)
	case c.KeyAlgorithm == "RSA" && c.KeyBits < recommendedRSABits:
		problems.warnf(field, "The signing certificate %s has a %d-bit RSA key, weaker than the 2048 bits "+
			"now required by most security policies. Replace it with a 2048-bit or longer key at the next rollover.",
			label, c.KeyBits)
	case c.KeyAlgorithm == "Ed25519":
		// NOTE: goxmldsig v1.6.1, which SAML libraries in Go use, verifies
		// RSA and ECDSA signatures only.
		problems.errorf(field, "The signing certificate %s has an Ed25519 key, but gatehouse verifies SAML signatures "+
			"made with RSA or ECDSA keys only. Create an RSA (2048-bit or longer) signing certificate in your IdP.",
			label)
	case c.KeyAlgorithm != "RSA" && c.KeyAlgorithm != "ECDSA":
		problems.errorf(field, "The signing certificate %s has a %s key, but gatehouse verifies SAML signatures "+
			"made with RSA or ECDSA keys only. Create an RSA (2048-bit or longer) signing certificate in your IdP.",
			label, c.KeyAlgorithm)
	}

	if weakSignatureAlgorithms[c.SignatureAlgorithm] {
		problems.warnf(field, "The signing certificate %s is itself signed with %s, a deprecated algorithm. "+
			"This does not weaken SAML signatures, but security scanners flag it: ask for SHA-256 when your IdP next "+
			"renews the certificate.",
			label, c.SignatureAlgorithm)
	}
}

// certificateLabel names certificate i by its common name, adding the start
// of its fingerprint when another certificate has the same name.
func certificateLabel(certs []Certificate, i int) string {
	name := commonName(certs[i])
	for j := range certs {
		if j != i && commonName(certs[j]) == name {
			return name + " (SHA-256 " + certs[i].SHA256Fingerprint[:11] + "…)"
		}
	}
	return name
}

func commonName(c Certificate) string {
	if parsed, err := x509.ParseCertificate(c.DER); err == nil && parsed.Subject.CommonName != "" {
		return "CN=" + parsed.Subject.CommonName
	}
	if c.Subject != "" {
		return c.Subject
	}
	return "(no subject)"
}

func formatDays(d time.Duration) string {
	days := int(d.Hours() / 24)
	switch days {
	case 0:
		return "less than a day"
	case 1:
		return "1 day"
	}
	return strconv.Itoa(days) + " days"
}

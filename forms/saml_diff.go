package forms

import (
	"crypto/x509"
	"time"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

// SAMLDiff is the set of changes that replacing a tenant's SAML connection
// makes, for staff to review before they save and for the audit trail after.
type SAMLDiff struct {
	// New is set when the tenant had no SAML connection before.
	New          bool
	EntityID     ValueChange
	SSOURL       ValueChange
	SSOBinding   ValueChange // short names, such as "HTTP-Redirect"
	Certificates []CertificateChange
}

// ValueChange is one setting before and after a replacement.
type ValueChange struct {
	Before string
	After  string
}

// Changed reports whether the value differs.
func (v ValueChange) Changed() bool { return v.Before != v.After }

// Certificate change kinds.
const (
	CertificateAdded     = "added"
	CertificateRemoved   = "removed"
	CertificateUnchanged = "unchanged"
)

// CertificateChange is one signing certificate that the connection trusts
// before or after a replacement.
type CertificateChange struct {
	Change      string // CertificateAdded, CertificateRemoved or CertificateUnchanged
	Subject     string
	NotAfter    time.Time
	Fingerprint string // SHA-256 of the DER, lowercase hex
}

// Changed reports whether anything differs, certificates included.
func (d SAMLDiff) Changed() bool {
	if d.New || d.EntityID.Changed() || d.SSOURL.Changed() || d.SSOBinding.Changed() {
		return true
	}
	for _, c := range d.Certificates {
		if c.Change != CertificateUnchanged {
			return true
		}
	}
	return false
}

// DiffSAMLConnections compares the current connection (nil when the tenant
// has none) with the one that would replace it. Certificates are listed in
// the order of next, then the removed ones in the order of current.
func DiffSAMLConnections(current *tenants.SAMLConnection, next tenants.SAMLConnection) SAMLDiff {
	d := SAMLDiff{
		EntityID:   ValueChange{After: next.IdPEntityID},
		SSOURL:     ValueChange{After: next.SSOURL},
		SSOBinding: ValueChange{After: Binding(next.SSOBinding).ShortName()},
	}
	var before [][]byte
	if current == nil {
		d.New = true
	} else {
		d.EntityID.Before, d.SSOURL.Before = current.IdPEntityID, current.SSOURL
		d.SSOBinding.Before = Binding(current.SSOBinding).ShortName()
		before = current.Certificates
	}

	for _, der := range next.Certificates {
		change := CertificateAdded
		if containsDER(before, der) {
			change = CertificateUnchanged
		}
		d.Certificates = append(d.Certificates, describeChange(der, change))
	}
	for _, der := range before {
		if !containsDER(next.Certificates, der) {
			d.Certificates = append(d.Certificates, describeChange(der, CertificateRemoved))
		}
	}
	return d
}

func describeChange(der []byte, change string) CertificateChange {
	c := CertificateChange{Change: change, Fingerprint: certificateFingerprint(der)}
	if cert, err := x509.ParseCertificate(der); err == nil {
		c.Subject, c.NotAfter = tenants.FormatName(cert.Subject), cert.NotAfter
	}
	return c
}

// auditDetail returns the diff as an audit event's detail: the settings
// before and after, and the fingerprints of the certificates by change.
func (d SAMLDiff) auditDetail() map[string]any {
	certs := map[string][]string{CertificateAdded: {}, CertificateRemoved: {}, CertificateUnchanged: {}}
	for _, c := range d.Certificates {
		certs[c.Change] = append(certs[c.Change], c.Fingerprint)
	}
	return map[string]any{
		"before": map[string]string{
			"idp_entity_id": d.EntityID.Before, "sso_url": d.SSOURL.Before, "sso_binding": d.SSOBinding.Before,
		},
		"after": map[string]string{
			"idp_entity_id": d.EntityID.After, "sso_url": d.SSOURL.After, "sso_binding": d.SSOBinding.After,
		},
		"certificates_added":     certs[CertificateAdded],
		"certificates_removed":   certs[CertificateRemoved],
		"certificates_unchanged": certs[CertificateUnchanged],
	}
}

package forms

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// SAMLReplacement is new IdP metadata for an existing tenant, validated as
// the setup form validates it.
type SAMLReplacement struct {
	// Problems are the validator's findings, on the setup form's field
	// names (metadata_source, metadata_file, metadata, entity_choice).
	Problems Problems
	Report   Report
	// Connection is set only when Problems has no error. Its TenantID is
	// empty and its certificates are those the metadata lists.
	Connection *tenants.SAMLConnection
}

// CheckSAMLReplacement validates metadata uploaded or pasted to replace a
// tenant's SAML connection, with the same checks as the setup form. A URL
// and values entered by hand are not accepted here: staff replace a live
// connection from a document they can keep.
func CheckSAMLReplacement(ctx context.Context, in SubmissionInput, now time.Time) SAMLReplacement {
	var problems problemList
	if in.MetadataSource != SourceUpload && in.MetadataSource != SourcePaste {
		problems.errorf(FieldMetadataSource, "Choose whether to upload the metadata file or paste its XML.")
		return SAMLReplacement{Problems: Problems(problems)}
	}

	var sub Submission
	validateSAML(ctx, in, SubmissionOptions{Now: now}, &sub, &problems)
	out := SAMLReplacement{Problems: Problems(problems).sorted(), Report: sub.Report}
	if out.Problems.HasErrors() || sub.Report.Metadata == nil {
		return out
	}
	conn := ConnectionFromMetadata(sub.Report.Metadata, sub.MetadataXML)
	out.Connection = &conn
	return out
}

// ConnectionFromMetadata returns the SAML connection that validated
// metadata describes: its entity ID, preferred SSO endpoint, every signing
// certificate and the raw document.
func ConnectionFromMetadata(md *Metadata, raw string) tenants.SAMLConnection {
	sso := md.PreferredSSO()
	conn := tenants.SAMLConnection{
		IdPEntityID: md.EntityID, SSOURL: sso.Location, SSOBinding: string(sso.Binding), MetadataXML: raw,
	}
	for _, c := range md.SigningCerts {
		conn.Certificates = append(conn.Certificates, c.DER)
	}
	return conn
}

// KeepCurrentCertificates adds to next the current certificates that next
// does not list and that are still valid at now, so an IdP that has not
// switched to its new certificate yet keeps signing users in. Expired and
// unparsable current certificates are dropped.
func KeepCurrentCertificates(next tenants.SAMLConnection, current [][]byte, now time.Time) tenants.SAMLConnection {
	trusted := append([][]byte(nil), next.Certificates...)
	for _, der := range current {
		cert, err := x509.ParseCertificate(der)
		if err != nil || now.After(cert.NotAfter) || containsDER(trusted, der) {
			continue
		}
		trusted = append(trusted, der)
	}
	next.Certificates = trusted
	return next
}

func containsDER(list [][]byte, der []byte) bool {
	for _, d := range list {
		if bytes.Equal(d, der) {
			return true
		}
	}
	return false
}

// ReplaceSAMLConnection replaces the tenant's SAML connection with next in
// tx and audits the change as tenant.saml_replace with the before and after
// values. seen is the UpdatedAt of the connection the actor reviewed, or
// zero when there was none. A connection changed since is
// database.ErrConflict.
func ReplaceSAMLConnection(ctx context.Context, tx *sqlx.Tx, actor Actor, tenantID string, next tenants.SAMLConnection, seen time.Time) error {
	store := tenants.NewStore(tx)
	before, err := store.SAMLConnection(ctx, tenantID)
	if err != nil && !database.IsNotFound(err) {
		return err
	}

	next.TenantID = tenantID
	if err := store.ReplaceSAMLConnection(ctx, next, seen); err != nil {
		return err
	}
	diff := DiffSAMLConnections(connectionOrNil(before, err), next)
	return actor.audit(ctx, tx, "tenant.saml_replace", tenantID, "", diff.auditDetail())
}

func connectionOrNil(c tenants.SAMLConnection, err error) *tenants.SAMLConnection {
	if err != nil {
		return nil
	}
	return &c
}

// certificateFingerprint is the SHA-256 of der in lowercase hex, as
// tenants stores it.
func certificateFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

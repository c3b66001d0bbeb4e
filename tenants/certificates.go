package tenants

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/gatehouse-dev/gatehouse/database"
)

// IdPCertificate is one trusted signing certificate of a tenant's IdP.
type IdPCertificate struct {
	ID          int64     `db:"id"`
	TenantID    string    `db:"tenant_id"`
	DER         []byte    `db:"der"`
	NotAfter    time.Time `db:"not_after"`
	Fingerprint string    `db:"fingerprint"` // SHA-256 of DER, lowercase hex
}

// Subject returns the certificate's subject, or "" when DER does not parse.
func (c IdPCertificate) Subject() string {
	cert, err := x509.ParseCertificate(c.DER)
	if err != nil {
		return ""
	}
	return FormatName(cert.Subject)
}

// Certificates lists a tenant's IdP signing certificates, soonest expiry first.
func (s *Store) Certificates(ctx context.Context, tenantID string) ([]IdPCertificate, error) {
	out := []IdPCertificate{}
	err := sqlx.SelectContext(ctx, s.db, &out, `
		SELECT id, tenant_id, der, not_after, fingerprint FROM idp_certificates
		WHERE tenant_id = $1 ORDER BY not_after, id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list IdP certificates: %w", database.Translate(err))
	}
	return out, nil
}

// ExpiryThresholds are the days before a certificate's expiry at which its
// tenant is warned, largest first.
var ExpiryThresholds = []int{30, 7, 1}

// ExpiryNotice is a certificate that crossed an expiry threshold and whose
// notice for that threshold was not sent yet.
type ExpiryNotice struct {
	Certificate IdPCertificate
	Tenant      Tenant
	Contact     Contact
	// ThresholdDays is the smallest threshold the certificate is within.
	ThresholdDays int
}

// ClaimExpiryNotices returns up to limit certificates that are within an
// expiry threshold at now and records their notices as sent. Run it in the
// transaction that enqueues the notices: the certificate rows are locked
// with FOR UPDATE SKIP LOCKED, so instances running at once claim
// different certificates, and the recorded threshold means each notice is
// claimed once. A certificate first seen inside several thresholds gets
// only the smallest one's notice. Expired certificates get none. Neither
// does a certificate whose tenant has another one that stays valid past
// the largest threshold. That one is its successor, published by the IdP
// for a rollover, so the contact has nothing to send.
func (s *Store) ClaimExpiryNotices(ctx context.Context, now time.Time, limit int) ([]ExpiryNotice, error) {
	var rows []struct {
		IdPCertificate
		Threshold int `db:"threshold_days"`
	}
	err := sqlx.SelectContext(ctx, s.db, &rows, `
		SELECT c.id, c.tenant_id, c.der, c.not_after, c.fingerprint, th.days AS threshold_days
		FROM idp_certificates c
		CROSS JOIN LATERAL (
			SELECT min(d) AS days FROM unnest($2::int[]) AS d
			WHERE c.not_after <= $1::timestamptz + make_interval(days => d)) th
		WHERE c.not_after > $1 AND th.days IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM idp_certificates successor
		                  WHERE successor.tenant_id = c.tenant_id AND successor.id <> c.id
		                    AND successor.not_after > $1::timestamptz + make_interval(days => $4))
		  AND NOT EXISTS (SELECT 1 FROM certificate_expiry_notices n
		                  WHERE n.tenant_id = c.tenant_id AND n.fingerprint = c.fingerprint AND n.threshold_days <= th.days)
		ORDER BY c.not_after, c.id
		LIMIT $3
		FOR UPDATE OF c SKIP LOCKED`, now, intArray(ExpiryThresholds), limit, slices.Max(ExpiryThresholds))
	if err != nil {
		return nil, fmt.Errorf("find expiring certificates: %w", database.Translate(err))
	}

	out := make([]ExpiryNotice, 0, len(rows))
	for _, row := range rows {
		notice, claimed, err := s.claimNotice(ctx, row.IdPCertificate, row.Threshold)
		if err != nil {
			return nil, err
		}
		if claimed {
			out = append(out, notice)
		}
	}
	return out, nil
}

func (s *Store) claimNotice(ctx context.Context, c IdPCertificate, threshold int) (ExpiryNotice, bool, error) {
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO certificate_expiry_notices (tenant_id, fingerprint, threshold_days) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, c.TenantID, c.Fingerprint, threshold)
	if err != nil {
		return ExpiryNotice{}, false, fmt.Errorf("record expiry notice: %w", database.Translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ExpiryNotice{}, false, nil
	}
	tenant, err := s.ByID(ctx, c.TenantID)
	if err != nil {
		return ExpiryNotice{}, false, err
	}
	contact, err := s.Contact(ctx, c.TenantID)
	if err != nil {
		return ExpiryNotice{}, false, err
	}
	return ExpiryNotice{Certificate: c, Tenant: tenant, Contact: contact, ThresholdDays: threshold}, true, nil
}

func intArray(values []int) any {
	out := make(pq.Int64Array, len(values))
	for i, v := range values {
		out[i] = int64(v)
	}
	return out
}

// oidEmailAddress is PKCS #9's emailAddress attribute, which IdPs such as
// Okta put in their certificates' subjects.
var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// FormatName formats a certificate name as crypto/x509 does, but prints
// emailAddress as text, where pkix.Name.String prints the attribute's
// object identifier and hex-encoded DER.
func FormatName(n pkix.Name) string {
	var emails []string
	extra := []pkix.AttributeTypeAndValue{}
	for _, atv := range n.Names {
		if email, ok := atv.Value.(string); ok && atv.Type.Equal(oidEmailAddress) {
			emails = append(emails, "emailAddress="+email)
			continue
		}
		if !isNameField(atv.Type) {
			extra = append(extra, atv)
		}
	}
	// A non-nil ExtraNames makes String print the fields and these
	// attributes only, instead of every parsed attribute.
	n.ExtraNames = extra
	return strings.Join(append([]string{n.String()}, emails...), ",")
}

// isNameField reports whether t is an attribute that pkix.Name has a field
// for (2.5.4.3 to 2.5.4.11 and 2.5.4.17), which String prints by name.
func isNameField(t asn1.ObjectIdentifier) bool {
	if len(t) != 4 || t[0] != 2 || t[1] != 5 || t[2] != 4 {
		return false
	}
	return (t[3] >= 3 && t[3] <= 11) || t[3] == 17
}

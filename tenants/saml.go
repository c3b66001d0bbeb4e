package tenants

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/gatehouse-dev/gatehouse/database"
)

// SAMLConnection is a tenant's approved IdP configuration.
type SAMLConnection struct {
	TenantID    string    `db:"tenant_id"`
	IdPEntityID string    `db:"idp_entity_id"`
	SSOURL      string    `db:"sso_url"`
	SSOBinding  string    `db:"sso_binding"`
	MetadataXML string    `db:"metadata_xml"`
	UpdatedAt   time.Time `db:"updated_at"`

	// Certificates are the IdP's signing certificates as DER; every one is trusted.
	Certificates [][]byte `db:"-"`
}

// ParsedCertificates parses Certificates, skipping none: a certificate that
// does not parse is an error, since it was validated before it was stored.
func (c SAMLConnection) ParsedCertificates() ([]*x509.Certificate, error) {
	out := make([]*x509.Certificate, 0, len(c.Certificates))
	for _, der := range c.Certificates {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("parse IdP certificate: %w", err)
		}
		out = append(out, cert)
	}
	return out, nil
}

// SetSAMLConnection creates or replaces a tenant's SAML connection and its
// certificates. Run it in a transaction (WithTx) so a failure leaves the
// previous configuration in place.
func (s *Store) SetSAMLConnection(ctx context.Context, c SAMLConnection) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO saml_connections (tenant_id, idp_entity_id, sso_url, sso_binding, metadata_xml)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant_id) DO UPDATE SET idp_entity_id = $2, sso_url = $3, sso_binding = $4, metadata_xml = $5, updated_at = now()`,
		c.TenantID, c.IdPEntityID, c.SSOURL, c.SSOBinding, c.MetadataXML)
	if err != nil {
		return fmt.Errorf("set SAML connection: %w", database.Translate(err))
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM idp_certificates WHERE tenant_id = $1`, c.TenantID); err != nil {
		return fmt.Errorf("replace IdP certificates: %w", database.Translate(err))
	}
	for _, der := range c.Certificates {
		if err := s.addCertificate(ctx, c.TenantID, der); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) addCertificate(ctx context.Context, tenantID string, der []byte) error {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("parse IdP certificate: %w", err)
	}
	sum := sha256.Sum256(der)
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO idp_certificates (tenant_id, der, not_after, fingerprint) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant_id, fingerprint) DO NOTHING`,
		tenantID, der, cert.NotAfter, hex.EncodeToString(sum[:]))
	if err != nil {
		return fmt.Errorf("store IdP certificate: %w", database.Translate(err))
	}
	return nil
}

// SAMLConnection returns a tenant's SAML connection with its certificates.
func (s *Store) SAMLConnection(ctx context.Context, tenantID string) (SAMLConnection, error) {
	var c SAMLConnection
	err := sqlx.GetContext(ctx, s.db, &c, `
		SELECT tenant_id, idp_entity_id, sso_url, sso_binding, metadata_xml, updated_at
		FROM saml_connections WHERE tenant_id = $1`, tenantID)
	if err != nil {
		return SAMLConnection{}, fmt.Errorf("get SAML connection: %w", database.Translate(err))
	}
	var ders pq.ByteaArray
	err = s.db.QueryRowxContext(ctx, `
		SELECT coalesce(array_agg(der ORDER BY id), '{}') FROM idp_certificates WHERE tenant_id = $1`, tenantID).Scan(&ders)
	if err != nil {
		return SAMLConnection{}, fmt.Errorf("get IdP certificates: %w", database.Translate(err))
	}
	c.Certificates = ders
	return c, nil
}

// ReplaceSAMLConnection replaces the tenant's SAML connection and
// certificates as SetSAMLConnection does, but only while the connection is
// the one the caller reviewed: seen is its UpdatedAt, or the zero time when
// the tenant had none. Any other state is database.ErrConflict. The tenant
// row is locked first, so two replacements of one tenant run one after the
// other. Run it in a transaction (WithTx).
func (s *Store) ReplaceSAMLConnection(ctx context.Context, c SAMLConnection, seen time.Time) error {
	var locked string
	err := sqlx.GetContext(ctx, s.db, &locked, `SELECT id FROM tenants WHERE id = $1 FOR UPDATE`, c.TenantID)
	if err != nil {
		return fmt.Errorf("lock tenant: %w", database.Translate(err))
	}

	var current time.Time
	err = sqlx.GetContext(ctx, s.db, &current, `SELECT updated_at FROM saml_connections WHERE tenant_id = $1`, c.TenantID)
	switch err = database.Translate(err); {
	case database.IsNotFound(err) && seen.IsZero():
	case err != nil && !database.IsNotFound(err):
		return fmt.Errorf("get SAML connection version: %w", err)
	case err != nil || !current.Equal(seen):
		return fmt.Errorf("replace SAML connection: changed since %s: %w", seen.Format(time.RFC3339Nano), database.ErrConflict)
	}
	return s.SetSAMLConnection(ctx, c)
}

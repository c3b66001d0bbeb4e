package portal

import (
	"context"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	saml2 "github.com/russellhaering/gosaml2"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// spKeyAAD binds the sealed SP private key to its purpose, so no other
// sealed record can stand in for it.
var spKeyAAD = []byte("gatehouse saml sp key")

// spEntityID returns the SP entity ID (the audience IdPs put in assertions)
// for a tenant slug: the URL of its SP metadata.
func (s *Server) spEntityID(slug string) string { return s.link("/saml/" + slug + "/metadata") }

// acsURL returns the assertion consumer service URL for a tenant slug.
func (s *Server) acsURL(slug string) string { return s.link("/saml/" + slug + "/acs") }

// spKey returns the SP key pair, generating and storing it on first use.
// Every instance reads the same stored pair.
// NOTE: nothing rotates the pair yet. Its certificate is valid for 20
// years, and a new pair would need every IdP that encrypts to it to load
// the new SP metadata first.
func (s *Server) spKey(ctx context.Context) (secrets.SAMLKey, error) {
	store := s.tenants
	cert, sealed, err := store.SPKey(ctx)
	if database.IsNotFound(err) {
		key, genErr := secrets.NewSAMLKey(s.cfg.BaseURL.Host+" SAML", s.now())
		if genErr != nil {
			return secrets.SAMLKey{}, genErr
		}
		sealedKey, sealErr := s.cfg.Keyring.SealSAMLKey(key, spKeyAAD)
		if sealErr != nil {
			return secrets.SAMLKey{}, fmt.Errorf("seal SP key: %w", sealErr)
		}
		if err := store.CreateSPKey(ctx, key.Certificate(), sealedKey); err != nil {
			return secrets.SAMLKey{}, err
		}
		cert, sealed, err = store.SPKey(ctx)
	}
	if err != nil {
		return secrets.SAMLKey{}, err
	}
	return s.openSPKey(cert, sealed)
}

// openSPKey unseals the stored SP private key with this instance's keyring.
func (s *Server) openSPKey(cert []byte, sealed secrets.Sealed) (secrets.SAMLKey, error) {
	key, err := s.cfg.Keyring.OpenSAMLKey(sealed, spKeyAAD, cert)
	if err != nil {
		return secrets.SAMLKey{}, fmt.Errorf("open SP key: %w", err)
	}
	return key, nil
}

// CheckSPKey opens the stored SP key pair, so that a start with the wrong
// master key shows at once instead of at the first sign-in. It creates no
// pair when none is stored, which keeps key generation off the start. The
// error wraps secrets.ErrUnknownKey when no master key of this instance
// can open the stored pair.
func (s *Server) CheckSPKey(ctx context.Context) error {
	cert, sealed, err := s.tenants.SPKey(ctx)
	if database.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = s.openSPKey(cert, sealed)
	return err
}

// metadataScope reports whether slug names a tenant, or the proposed slug
// of a setup request that is still open or approved, so its SP metadata
// can be served before the tenant exists.
func (s *Server) metadataScope(ctx context.Context, slug string) (bool, error) {
	if !tenants.ValidSlug(slug) {
		return false, nil
	}
	var ok bool
	err := s.db.QueryRowxContext(ctx, `
		SELECT EXISTS (SELECT 1 FROM tenants WHERE slug = $1)
		    OR EXISTS (SELECT 1 FROM setup_requests WHERE tenant_slug = $1 AND state NOT IN ('rejected', 'withdrawn'))`,
		slug).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("find metadata scope: %w", database.Translate(err))
	}
	return ok, nil
}

// spMetadata serves the SP metadata of a tenant: entity ID, the HTTP-POST
// ACS, and the certificate that signs AuthnRequests and that IdPs encrypt
// assertions to.
func (s *Server) spMetadata(c *gin.Context) error {
	slug := c.Param("tenant")
	ok, err := s.metadataScope(c.Request.Context(), slug)
	if err != nil {
		return err
	}
	if !ok {
		return errNotFound
	}
	key, err := s.spKey(c.Request.Context())
	if err != nil {
		return err
	}

	sp := &saml2.SAMLServiceProvider{
		ServiceProviderIssuer:       s.spEntityID(slug),
		AssertionConsumerServiceURL: s.acsURL(slug),
		// SignAuthnRequests sets AuthnRequestsSigned="true" in the metadata,
		// because authnServiceProvider signs every AuthnRequest with this key.
		SignAuthnRequests: true,
		SPKeyStore:        dsig.TLSCertKeyStore(key.TLSCertificate()),
		Clock:             dsig.NewFakeClockAt(s.now()),
	}
	descriptor, err := sp.Metadata()
	if err != nil {
		return fmt.Errorf("build SP metadata: %w", err)
	}
	descriptor.SPSSODescriptor.NameIDFormats = []string{saml2.NameIdFormatEmailAddress, saml2.NameIdFormatUnspecified}
	// gosaml2 sets validUntil a week ahead. An IdP that keeps a copy and
	// honors it would stop trusting gatehouse after that week, although
	// the entity ID, the ACS and the key never change. The Shibboleth IdP
	// does so by default (requireValidMetadata). A copy stays right for as
	// long as the certificate in it is valid.
	cert, err := x509.ParseCertificate(key.Certificate())
	if err != nil {
		return fmt.Errorf("parse SP certificate: %w", err)
	}
	descriptor.ValidUntil = cert.NotAfter.UTC()
	body, err := xml.MarshalIndent(descriptor, "", "  ")
	if err != nil {
		return fmt.Errorf("encode SP metadata: %w", err)
	}
	c.Header("Content-Disposition", `inline; filename="`+slug+`-sp-metadata.xml"`)
	c.Data(http.StatusOK, "application/samlmetadata+xml", append([]byte(xml.Header), body...))
	return nil
}

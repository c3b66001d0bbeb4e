package secrets

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"
)

// samlKeyBits is the RSA key size of the SAML service provider key, the
// usual size of SP encryption keys.
const samlKeyBits = 2048

// samlCertLifetime is how long the self-signed SP certificate is valid.
// IdPs use it only to find the public key to encrypt to.
const samlCertLifetime = 20 * 365 * 24 * time.Hour

// SAMLKey is the SAML service provider's RSA key pair: IdPs encrypt
// assertions to its certificate, and only this key decrypts them. It
// prints as a placeholder.
type SAMLKey struct {
	key  *rsa.PrivateKey
	cert []byte
}

// NewSAMLKey generates a key pair with a self-signed certificate for
// commonName, valid from now for 20 years.
func NewSAMLKey(commonName string, now time.Time) (SAMLKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, samlKeyBits)
	if err != nil {
		return SAMLKey{}, fmt.Errorf("generate SAML key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return SAMLKey{}, fmt.Errorf("generate certificate serial: %w", err)
	}
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(samlCertLifetime),
		KeyUsage:     x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
	}
	cert, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return SAMLKey{}, fmt.Errorf("create SAML certificate: %w", err)
	}
	return SAMLKey{key: key, cert: cert}, nil
}

// SealSAMLKey encrypts k's private key under the current master key, bound
// to aad.
func (r *Keyring) SealSAMLKey(k SAMLKey, aad []byte) (Sealed, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.key)
	if err != nil {
		return Sealed{}, fmt.Errorf("encode SAML key: %w", err)
	}
	return r.Seal(der, aad)
}

// OpenSAMLKey decrypts a private key that SealSAMLKey sealed with the same
// aad and pairs it with its certificate, which must contain its public key.
func (r *Keyring) OpenSAMLKey(s Sealed, aad, cert []byte) (SAMLKey, error) {
	der, err := r.Open(s, aad)
	if err != nil {
		return SAMLKey{}, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return SAMLKey{}, fmt.Errorf("parse SAML key: %w", err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return SAMLKey{}, errors.New("parse SAML key: not an RSA key")
	}
	parsedCert, err := x509.ParseCertificate(cert)
	if err != nil {
		return SAMLKey{}, fmt.Errorf("parse SAML certificate: %w", err)
	}
	if !key.PublicKey.Equal(parsedCert.PublicKey) {
		return SAMLKey{}, errors.New("open SAML key: the certificate does not match the key")
	}
	return SAMLKey{key: key, cert: cert}, nil
}

// Certificate returns the DER of the self-signed certificate, which the SP
// metadata publishes.
func (k SAMLKey) Certificate() []byte { return k.cert }

// TLSCertificate returns the pair in the form the SAML library's key store
// takes, for decrypting assertions.
func (k SAMLKey) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{k.cert}, PrivateKey: k.key}
}

func (SAMLKey) String() string       { return redacted }
func (SAMLKey) GoString() string     { return redacted }
func (SAMLKey) LogValue() slog.Value { return slog.StringValue(redacted) }

package forms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

// testNow is the pinned clock of every validator test. The corpus notes in
// testdata/idp-metadata/README.md call certificates "expired" relative to it.
var testNow = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)

// certSpec describes a self-signed test certificate.
type certSpec struct {
	cn        string
	notBefore time.Time
	notAfter  time.Time
	key       string // "rsa2048" (default), "rsa1024", "rsa512", "ecdsa", "ed25519"
	sigAlg    x509.SignatureAlgorithm
}

var (
	testKeysMu sync.Mutex
	testKeys   = map[string]crypto.Signer{}
)

// testKey returns a key of the named kind, generated once per test binary.
// "rsa512" needs GODEBUG=rsa1024min=0, which the caller sets.
func testKey(t *testing.T, kind string) crypto.Signer {
	t.Helper()
	testKeysMu.Lock()
	defer testKeysMu.Unlock()

	if k, ok := testKeys[kind]; ok {
		return k
	}

	var key crypto.Signer
	var err error
	switch kind {
	case "rsa2048":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "rsa1024":
		key, err = rsa.GenerateKey(rand.Reader, 1024)
	case "rsa512":
		key, err = rsa.GenerateKey(rand.Reader, 512)
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown test key kind %q", kind)
	}
	if err != nil {
		t.Fatalf("generate %s key: %v", kind, err)
	}
	testKeys[kind] = key
	return key
}

// makeCert returns the DER of a self-signed certificate. Unset fields default
// to CN=idp.example.com, RSA-2048, valid from a year before testNow to five
// years after.
func makeCert(t *testing.T, spec certSpec) []byte {
	t.Helper()
	if spec.cn == "" {
		spec.cn = "idp.example.com"
	}
	if spec.notBefore.IsZero() {
		spec.notBefore = testNow.AddDate(-1, 0, 0)
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = testNow.AddDate(5, 0, 0)
	}
	if spec.key == "" {
		spec.key = "rsa2048"
	}

	key := testKey(t, spec.key)
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(time.Now().UnixNano()),
		Subject:            pkix.Name{CommonName: spec.cn, Organization: []string{"Example IdP"}},
		NotBefore:          spec.notBefore,
		NotAfter:           spec.notAfter,
		SignatureAlgorithm: spec.sigAlg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("create certificate %s: %v", spec.cn, err)
	}
	return der
}

func certBase64(der []byte) string {
	return base64.StdEncoding.EncodeToString(der)
}

func certPEM(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// wrapBase64 breaks base64 text into lines of 64 characters indented like
// metadata from Shibboleth.
func wrapBase64(text string) string {
	var b strings.Builder
	for len(text) > 64 {
		b.WriteString("\n            " + text[:64])
		text = text[64:]
	}
	b.WriteString("\n            " + text + "\n        ")
	return b.String()
}

// keyXML returns a KeyDescriptor with one certificate; use may be empty.
func keyXML(use, base64Text string) string {
	attr := ""
	if use != "" {
		attr = fmt.Sprintf(` use="%s"`, use)
	}
	return fmt.Sprintf(`<md:KeyDescriptor%s><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
		attr, base64Text)
}

func ssoXML(binding Binding, location string) string {
	return fmt.Sprintf(`<md:SingleSignOnService Binding="%s" Location="%s"/>`, binding, location)
}

// idpEntityXML returns an md:EntityDescriptor with one IDPSSODescriptor whose
// content is roleBody. attrs are added to the EntityDescriptor start tag.
func idpEntityXML(entityID, attrs, roleBody string) string {
	return fmt.Sprintf(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="%s"%s>
    <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
        %s
    </md:IDPSSODescriptor>
</md:EntityDescriptor>`, entityID, attrs, roleBody)
}

// validRole returns an IdP role body with a valid RSA-2048 signing
// certificate and both usable SSO bindings.
func validRole(t *testing.T) string {
	return keyXML("signing", certBase64(makeCert(t, certSpec{}))) +
		ssoXML(BindingRedirect, "https://idp.example.com/sso/redirect") +
		ssoXML(BindingPOST, "https://idp.example.com/sso/post") +
		`<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>`
}

// validMetadata returns a complete, valid single-IdP document.
func validMetadata(t *testing.T) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + idpEntityXML("https://idp.example.com/saml", "", validRole(t))
}

package tenants

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
)

func TestFormatNamePrintsEmailAsText(t *testing.T) {
	t.Parallel()
	// The subject of Okta's signing certificate, from
	// forms/testdata/idp-metadata/okta-2024.xml.
	raw, err := os.ReadFile("../forms/testdata/idp-metadata/okta-2024.xml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	start := strings.Index(s, "<ds:X509Certificate>") + len("<ds:X509Certificate>")
	end := strings.Index(s, "</ds:X509Certificate>")
	block := "-----BEGIN CERTIFICATE-----\n" + strings.TrimSpace(s[start:end]) + "\n-----END CERTIFICATE-----\n"
	p, _ := pem.Decode([]byte(block))
	if p == nil {
		t.Fatal("no certificate in the fixture")
	}
	cert, err := x509.ParseCertificate(p.Bytes)
	if err != nil {
		t.Fatal(err)
	}

	got := FormatName(cert.Subject)
	want := "CN=trial-1022863,OU=SSOProvider,O=Okta,L=San Francisco,ST=California,C=US,emailAddress=info@okta.com"
	if got != want {
		t.Errorf("FormatName = %q, want %q", got, want)
	}
}

package portal

import (
	"bytes"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/crewjam/saml"
)

// fuzzSP is the SP side of FuzzACSResponse: the entity ID, ACS URL and key
// pair that the ACS of tenant "acme" on https://gatehouse.test uses.
const (
	fuzzSPEntityID = "https://gatehouse.test/saml/acme/metadata"
	fuzzACSURL     = "https://gatehouse.test/saml/acme/acs"
)

// registerFuzzSP tells the IdP about the fuzz SP, with an encryption key
// when encryptTo is set.
func registerFuzzSP(p *testIdP, encryptTo []byte) {
	var keys []saml.KeyDescriptor
	if encryptTo != nil {
		keys = append(keys, saml.KeyDescriptor{Use: "encryption", KeyInfo: saml.KeyInfo{X509Data: saml.X509Data{
			X509Certificates: []saml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(encryptTo)}},
		}}})
	}
	sp := &saml.EntityDescriptor{EntityID: fuzzSPEntityID, SPSSODescriptors: []saml.SPSSODescriptor{{
		SSODescriptor: saml.SSODescriptor{RoleDescriptor: saml.RoleDescriptor{
			ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol", KeyDescriptors: keys,
		}},
		AssertionConsumerServices: []saml.IndexedEndpoint{{Binding: saml.HTTPPostBinding, Location: fuzzACSURL, Index: 1}},
	}}}
	p.mu.Lock()
	p.sps[fuzzSPEntityID] = sp
	p.mu.Unlock()
}

// FuzzACSResponse feeds arbitrary documents to the ACS's Response handling
// (prescan, then gosaml2 and gatehouse's checks) with a trusted IdP. It
// must never panic, and every rejection must be a samlFailure with a code,
// which the ACS turns into a 400 or 403 page, never a server error. The
// database steps that follow a verified Response are covered by the ACS
// tests.
func FuzzACSResponse(f *testing.F) {
	// Fixed keys: generating RSA keys in every fuzz worker, with coverage
	// instrumentation, takes longer than make test fuzzes.
	idpPair := loadKeyPair(f, "idp")
	idp := newTestIdPWithKey(f, "", idpPair.PrivateKey.(*rsa.PrivateKey), idpPair.Leaf)
	idp.setUser("ada@acme.test")
	spPair := loadKeyPair(f, "sp")
	check := responseCheck{
		Trust:    idpTrust{EntityID: idp.entityID(), Certificates: []*x509.Certificate{idp.cert}},
		Audience: fuzzSPEntityID, ACSURL: fuzzACSURL, Key: spPair, Now: time.Now(),
	}

	registerFuzzSP(idp, nil)
	plain := idp.respond(f, fuzzSPEntityID, "", nil)
	f.Add(plain)
	f.Add(idp.respond(f, fuzzSPEntityID, "", func(a *saml.Assertion) { a.Conditions.AudienceRestrictions = nil }))
	f.Add(idp.respond(f, fuzzSPEntityID, "_pending", nil))
	registerFuzzSP(idp, spPair.Leaf.Raw)
	f.Add(idp.respond(f, fuzzSPEntityID, "", nil))

	root := parseXML(f, plain)
	removeSignatures(root)
	f.Add(writeXML(f, root))
	f.Add(bytes.Replace(plain, []byte("ada@acme.test<"), []byte("ada@acme.test<!---->x<"), 1))
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "x">]><r>&x;</r>`))
	f.Add([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" InResponseTo="_x"><samlp:Status/></samlp:Response>`))
	f.Add([]byte(`<Response xmlns="urn:oasis:names:tc:SAML:2.0:protocol"><EncryptedAssertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion"/></Response>`))
	f.Add([]byte{})

	if _, err := verifyResponse(plain, mustScan(f, plain, check), check); err != nil {
		f.Fatalf("the plain seed must verify: %v", err)
	}

	f.Fuzz(func(t *testing.T, raw []byte) {
		scan, err := scanResponse(raw, check.Key)
		if err == nil {
			_, err = verifyResponse(raw, scan, check)
		}
		var rejected *samlFailure
		if err != nil && (!errors.As(err, &rejected) || rejected.Code == "" || rejected.Reason == "") {
			t.Fatalf("rejection without a code and reason: %v", err)
		}
	})
}

// loadKeyPair reads a test key pair from testdata/saml/fuzz.
func loadKeyPair(t testing.TB, name string) tls.Certificate {
	t.Helper()
	dir := filepath.Join("testdata", "saml", "fuzz")
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func mustScan(t testing.TB, raw []byte, check responseCheck) responseScan {
	t.Helper()
	scan, err := scanResponse(raw, check.Key)
	if err != nil {
		t.Fatal(err)
	}
	return scan
}

// TestACSGarbageIsNeverAServerError posts malformed forms through HTTP,
// where FuzzACSResponse does not reach.
func TestACSGarbageIsNeverAServerError(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	inputs := [][]byte{nil, []byte("<"), []byte("<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>"),
		[]byte("\xef\xbb\xbf<x/>"), bytes.Repeat([]byte("<a>"), 1000),
		append(append([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">`), bytes.Repeat([]byte("<a>"), 16000)...), bytes.Repeat([]byte("</a>"), 16000)...)}
	for _, in := range inputs {
		for _, slug := range []string{"acme", "nobody", "-bad-"} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/saml/"+slug+"/acs", bytes.NewReader([]byte("SAMLResponse="+base64.URLEncoding.EncodeToString(in))))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			env.engine.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Errorf("ACS of %s for %q = %d", slug, in, rec.Code)
			}
		}
	}
}

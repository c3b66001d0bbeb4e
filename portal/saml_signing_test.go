package portal

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crewjam/saml"
	"github.com/google/go-cmp/cmp"
	dsig "github.com/russellhaering/goxmldsig"
)

// TestIdPAcceptsSignedAuthnRequests runs whole sign-ins against a crewjam
// IdP that rejects AuthnRequests without a valid signature by a signing
// key in gatehouse's SP metadata.
func TestIdPAcceptsSignedAuthnRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		binding  string
		fromForm bool // start from the password form, which reaches the IdP through a form
	}{
		{name: "redirect binding", binding: saml.HTTPRedirectBinding},
		{name: "redirect binding from a form", binding: saml.HTTPRedirectBinding, fromForm: true},
		{name: "post binding", binding: saml.HTTPPostBinding},
		{name: "post binding from a form", binding: saml.HTTPPostBinding, fromForm: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newSigninEnv(t, envOptions{Binding: tt.binding})
			env.idp.idp.WantAuthnRequestsSigned = true
			env.idp.idp.RejectSHA1Signatures = true
			env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
			env.idp.setUser("ada@acme.test")
			b := env.newBrowser()

			start := b.get(env.web.URL + "/sso/acme")
			if tt.fromForm {
				start = b.post(env.web.URL+"/login", url.Values{"email": {"ada@acme.test"}, "password": {""}})
			}
			idpPage := env.sendToIdP(b, start)
			method, action, fields := formIn(t, idpPage.Body)
			if method != http.MethodPost || action != env.srv.acsURL("acme") {
				t.Fatalf("IdP page = %d, form %s %s; want a form posting to the ACS:\n%s", idpPage.Status, method, action, idpPage.Body)
			}
			acs := b.post(action, fields)
			if acs.Status != http.StatusSeeOther || acs.Location != "/account" {
				t.Errorf("ACS = %d %q, want 303 /account:\n%s\nlogs:\n%s", acs.Status, acs.Location, acs.Body, env.logs)
			}
		})
	}
}

// TestIdPRejectsTamperedAuthnRequest checks that the IdP in the test above
// does verify signatures: a RelayState added after signing makes it
// reject the request with an error page.
func TestIdPRejectsTamperedAuthnRequest(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	env.idp.idp.WantAuthnRequestsSigned = true
	b := env.newBrowser()

	start := b.get(env.web.URL + "/sso/acme")
	target := mustURL(t, start.Location)
	query := target.Query()
	query.Set("RelayState", "/account/drop-location")
	target.RawQuery = query.Encode()
	if page := b.get(target.String()); page.Status != http.StatusBadRequest {
		t.Errorf("IdP page for a tampered AuthnRequest = %d, want 400:\n%s", page.Status, page.Body)
	}
}

// TestAuthnRequestSignatures verifies the signature of each binding with
// the SP certificate directly, without an IdP.
func TestAuthnRequestSignatures(t *testing.T) {
	t.Parallel()
	t.Run("redirect binding signs the query", func(t *testing.T) {
		t.Parallel()
		env := newSigninEnv(t, envOptions{})
		start := env.newBrowser().get(env.web.URL + "/sso/acme")
		if start.Status != http.StatusFound {
			t.Fatalf("/sso = %d, want 302", start.Status)
		}
		raw := map[string]string{}
		for _, pair := range strings.Split(mustURL(t, start.Location).RawQuery, "&") {
			name, value, _ := strings.Cut(pair, "=")
			raw[name] = value
		}
		if got, want := mustURL(t, start.Location).Query().Get("SigAlg"), dsig.RSASHA256SignatureMethod; got != want {
			t.Errorf("SigAlg = %q, want %q", got, want)
		}
		signature, err := base64.StdEncoding.DecodeString(mustURL(t, start.Location).Query().Get("Signature"))
		if err != nil {
			t.Fatalf("Signature is not base64: %v", err)
		}
		signed := "SAMLRequest=" + raw["SAMLRequest"] + "&SigAlg=" + raw["SigAlg"]
		digest := sha256.Sum256([]byte(signed))
		public := spCertificate(t, env).PublicKey.(*rsa.PublicKey)
		if err := rsa.VerifyPKCS1v15(public, crypto.SHA256, digest[:], signature); err != nil {
			t.Errorf("query signature does not verify with the SP certificate: %v", err)
		}
	})

	t.Run("post binding signs the request", func(t *testing.T) {
		t.Parallel()
		env := newSigninEnv(t, envOptions{Binding: saml.HTTPPostBinding})
		start := env.newBrowser().get(env.web.URL + "/sso/acme")
		_, _, fields := formIn(t, start.Body)
		raw, err := base64.StdEncoding.DecodeString(fields.Get("SAMLRequest"))
		if err != nil {
			t.Fatal(err)
		}
		request := parseXML(t, raw)
		validator := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{spCertificate(t, env)}})
		verified, err := validator.Validate(request)
		if err != nil {
			t.Fatalf("enveloped signature does not verify with the SP certificate: %v", err)
		}
		if got := verified.SelectAttrValue("Destination", ""); got != env.idp.ssoURL() {
			t.Errorf("signed Destination = %q, want %q", got, env.idp.ssoURL())
		}
		if method := request.FindElement(".//SignatureMethod"); method == nil || method.SelectAttrValue("Algorithm", "") != dsig.RSASHA256SignatureMethod {
			t.Errorf("SignatureMethod = %v, want %s", method, dsig.RSASHA256SignatureMethod)
		}
	})
}

func TestSPMetadataSaysRequestsSigned(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	sp := env.idp.trustSP(t, env, "acme", true).SPSSODescriptors[0]
	if sp.AuthnRequestsSigned == nil || !*sp.AuthnRequestsSigned {
		t.Errorf("AuthnRequestsSigned is missing or false, want true")
	}
	var signing []string
	for _, kd := range sp.KeyDescriptors {
		if kd.Use == "signing" {
			signing = append(signing, kd.KeyInfo.X509Data.X509Certificates[0].Data)
		}
	}
	want := []string{base64.StdEncoding.EncodeToString(spCertificate(t, env).Raw)}
	if diff := cmp.Diff(want, signing); diff != "" {
		t.Errorf("signing certificates (-want +got):\n%s", diff)
	}
}

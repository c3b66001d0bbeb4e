package forms

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// reportSummary is the part of a Report the tables compare with cmp.Diff.
type reportSummary struct {
	HasErrors     bool
	HasMetadata   bool
	EntityID      string
	SigningCerts  int
	SSOBindings   []string
	EntityChoices []string
}

func summarize(r Report) reportSummary {
	s := reportSummary{HasErrors: r.HasErrors(), HasMetadata: r.Metadata != nil, EntityChoices: r.EntityChoices}
	if r.Metadata != nil {
		s.EntityID = r.Metadata.EntityID
		s.SigningCerts = len(r.Metadata.SigningCerts)
		for _, e := range r.Metadata.SSOEndpoints {
			s.SSOBindings = append(s.SSOBindings, e.Binding.ShortName())
		}
	}
	return s
}

// wantProblem is a problem a report must contain: its severity and a part of
// its message.
type wantProblem struct {
	severity Severity
	contains string
}

func errorWith(s string) wantProblem   { return wantProblem{SeverityError, s} }
func warningWith(s string) wantProblem { return wantProblem{SeverityWarning, s} }

// checkProblems fails t for each wanted problem missing from r, and for any
// problem on a field other than field.
func checkProblems(t *testing.T, r Report, field string, want []wantProblem) {
	t.Helper()
	for _, w := range want {
		if !hasProblem(r, w) {
			t.Errorf("missing %s containing %q; problems:\n%s", w.severity, w.contains, formatProblems(r.Problems))
		}
	}
	for _, p := range r.Problems {
		if p.Field != field {
			t.Errorf("problem on field %q, want %q: %s", p.Field, field, p.Message)
		}
	}
}

func hasProblem(r Report, w wantProblem) bool {
	for _, p := range r.Problems {
		if p.Severity == w.severity && strings.Contains(p.Message, w.contains) {
			return true
		}
	}
	return false
}

func formatProblems(problems []Problem) string {
	var b strings.Builder
	for _, p := range problems {
		fmt.Fprintf(&b, "  %s [%s] %s\n", p.Severity, p.Field, p.Message)
	}
	return b.String()
}

const sampleEntityID = "https://idp.example.com/saml"

func TestValidateMetadataRules(t *testing.T) {
	valid := validMetadata(t)
	role := validRole(t)
	signing := keyXML("signing", certBase64(makeCert(t, certSpec{})))
	redirect := ssoXML(BindingRedirect, "https://idp.example.com/sso")
	post := ssoXML(BindingPOST, "https://idp.example.com/sso")
	okSummary := reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect", "HTTP-POST"}}
	validUTF16 := utf16Document(t, strings.Replace(valid, `encoding="UTF-8"`, `encoding="UTF-16"`, 1))

	tests := []struct {
		name     string
		raw      string
		opts     ValidateOptions
		want     reportSummary
		problems []wantProblem
	}{
		{
			name: "valid metadata has no problems",
			raw:  valid,
			want: okSummary,
		},
		{
			name: "leading UTF-8 BOM is accepted",
			raw:  "\xEF\xBB\xBF" + valid,
			want: okSummary,
		},
		{
			name: "UTF-16 with BOM is accepted",
			raw:  validUTF16,
			want: okSummary,
		},
		{
			name: "declared ISO-8859-1 is accepted",
			raw:  latin1Document(t, strings.Replace(valid, `encoding="UTF-8"`, `encoding="ISO-8859-1"`, 1)),
			want: okSummary,
		},
		{
			name:     "unknown declared encoding is an error",
			raw:      strings.Replace(valid, `encoding="UTF-8"`, `encoding="EBCDIC-XYZ"`, 1),
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith(`declares the character encoding "EBCDIC-XYZ"`)},
		},
		{
			name: "comments before the root are accepted",
			raw:  "<!-- exported by the IdP -->\n<!-- second comment -->\n" + idpEntityXML(sampleEntityID, "", role),
			want: okSummary,
		},
		{
			name: "aggregate with one IdP entity uses it",
			raw:  aggregateDoc(idpEntityXML(sampleEntityID, "", role), spEntityXML("https://sp.example.org")),
			want: okSummary,
		},
		{
			name: "aggregate with several IdP entities asks to choose",
			raw:  aggregateDoc(idpEntityXML("https://a.example.com", "", role), idpEntityXML("https://b.example.com", "", role)),
			want: reportSummary{HasErrors: true, EntityChoices: []string{"https://a.example.com", "https://b.example.com"}},
			problems: []wantProblem{
				errorWith(`contains 2 identity providers: "https://a.example.com", "https://b.example.com". Choose`),
			},
		},
		{
			name: "aggregate with many IdP entities lists ten in the message",
			raw:  aggregateDoc(manyEntities(role, 12)...),
			want: reportSummary{HasErrors: true, EntityChoices: manyEntityIDs(12)},
			problems: []wantProblem{
				errorWith(`"https://idp10.example.com", and 2 more. Choose`),
			},
		},
		{
			name: "aggregate with several IdP entities uses the chosen one",
			raw:  aggregateDoc(idpEntityXML("https://a.example.com", "", role), idpEntityXML("https://b.example.com", "", role)),
			opts: ValidateOptions{EntityID: "https://b.example.com"},
			want: reportSummary{HasMetadata: true, EntityID: "https://b.example.com", SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect", "HTTP-POST"}},
		},
		{
			name: "nested aggregate is searched",
			raw:  aggregateDoc(aggregateDoc(idpEntityXML(sampleEntityID, "", role))),
			want: okSummary,
		},
		{
			name:     "chosen entity missing from the document is an error",
			raw:      valid,
			opts:     ValidateOptions{EntityID: "https://other.example.com"},
			want:     reportSummary{HasErrors: true, EntityChoices: []string{sampleEntityID}},
			problems: []wantProblem{errorWith(`no IdP entity with the entity ID "https://other.example.com"`)},
		},
		{
			name: "WS-Fed RoleDescriptor is ignored",
			raw: strings.Replace(valid, "<md:IDPSSODescriptor", `<md:RoleDescriptor xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" `+
				`xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706" xsi:type="fed:SecurityTokenServiceType" `+
				`protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706">`+
				keyXML("signing", "bm90IGEgY2VydGlmaWNhdGU=")+
				`<fed:PassiveRequestorEndpoint>https://idp.example.com/wsfed</fed:PassiveRequestorEndpoint></md:RoleDescriptor><md:IDPSSODescriptor`, 1),
			want: okSummary,
		},
		{
			name: "several signing certificates are all kept",
			raw: idpEntityXML(sampleEntityID, "", redirect+signing+
				keyXML("signing", certBase64(makeCert(t, certSpec{cn: "next.example.com"})))+
				keyXML("signing", certBase64(makeCert(t, certSpec{cn: "third.example.com", key: "ecdsa"})))),
			want: reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 3, SSOBindings: []string{"HTTP-Redirect"}},
		},
		{
			name: "the same certificate twice is kept once",
			raw:  idpEntityXML(sampleEntityID, "", redirect+signing+signing),
			want: reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
		},
		{
			name: "KeyDescriptor without use counts as signing",
			raw:  idpEntityXML(sampleEntityID, "", redirect+keyXML("", certBase64(makeCert(t, certSpec{})))),
			want: reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
		},
		{
			name: "encryption certificate is not a signing certificate",
			raw: idpEntityXML(sampleEntityID, "", redirect+signing+
				keyXML("encryption", certBase64(makeCert(t, certSpec{cn: "enc.example.com"})))),
			want: reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
		},
		{
			name:     "encryption-only certificate is an error",
			raw:      idpEntityXML(sampleEntityID, "", redirect+keyXML("encryption", certBase64(makeCert(t, certSpec{})))),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{errorWith("only an encryption certificate")},
		},
		{
			name:     "no certificate is an error",
			raw:      idpEntityXML(sampleEntityID, "", redirect),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{errorWith("has no signing certificate")},
		},
		{
			name: "unknown KeyDescriptor use is ignored with a warning",
			raw:  idpEntityXML(sampleEntityID, "", redirect+signing+keyXML("sign", certBase64(makeCert(t, certSpec{cn: "typo.example.com"})))),
			want: reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{
				warningWith(`KeyDescriptor 2 has use="sign"`),
			},
		},
		{
			name: "base64 with spaces and line breaks is accepted",
			raw: idpEntityXML(sampleEntityID, "", redirect+keyXML("signing",
				spaced(wrapBase64(certBase64(makeCert(t, certSpec{}))))+"\r\n\t ")),
			want: reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
		},
		{
			name: "POST-only SSO is accepted",
			raw:  idpEntityXML(sampleEntityID, "", signing+post+post),
			want: reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-POST"}},
		},
		{
			name: "only SOAP and Artifact SSO bindings are an error",
			raw: idpEntityXML(sampleEntityID, "", signing+
				ssoXML(bindingSOAP, "https://idp.example.com/soap")+ssoXML(bindingArtifact, "https://idp.example.com/artifact")),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1},
			problems: []wantProblem{errorWith("single sign-on only over SOAP and HTTP-Artifact")},
		},
		{
			name:     "more than 50 SSO services is an error",
			raw:      idpEntityXML(sampleEntityID, "", signing+strings.Repeat(ssoXML(BindingPOST, "http://localhost/sso"), 51)),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID},
			problems: []wantProblem{errorWith("The IdP lists 51 SingleSignOnService and 1 KeyDescriptor elements, more than the 50")},
		},
		{
			name:     "no SingleSignOnService is an error",
			raw:      idpEntityXML(sampleEntityID, "", signing),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1},
			problems: []wantProblem{errorWith("has no SingleSignOnService")},
		},
		{
			name:     "relative SSO location is an error",
			raw:      idpEntityXML(sampleEntityID, "", signing+ssoXML(BindingRedirect, "/sso/saml")),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1},
			problems: []wantProblem{errorWith(`The SSO URL "/sso/saml" is not an absolute https URL`)},
		},
		{
			name:     "http SSO location on localhost gives warnings",
			raw:      idpEntityXML(sampleEntityID, "", signing+ssoXML(BindingRedirect, "http://localhost:8080/sso")+ssoXML(BindingPOST, "http://localhost:8080/sso")),
			want:     reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect", "HTTP-POST"}},
			problems: []wantProblem{warningWith("uses http, not https"), warningWith("points to localhost")},
		},
		{
			name: "expired only certificate is an error naming the date",
			raw: idpEntityXML(sampleEntityID, "", redirect+keyXML("signing", certBase64(makeCert(t, certSpec{
				cn: "old.example.com", notBefore: time.Date(2018, 1, 3, 0, 0, 0, 0, time.UTC), notAfter: time.Date(2021, 1, 3, 12, 0, 0, 0, time.UTC),
			})))),
			want: reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{
				errorWith("The signing certificate CN=old.example.com expired on 2021-01-03. If your IdP still signs with it, " +
					"create a new signing certificate there first. Send us your IdP's current metadata again, " +
					"as an uploaded file, as pasted XML or by its URL."),
			},
		},
		{
			name: "expired certificate beside a valid one is a warning",
			raw: idpEntityXML(sampleEntityID, "", redirect+signing+keyXML("signing", certBase64(makeCert(t, certSpec{
				cn: "old.example.com", notBefore: time.Date(2018, 1, 3, 0, 0, 0, 0, time.UTC), notAfter: time.Date(2021, 1, 3, 0, 0, 0, 0, time.UTC),
			})))),
			want:     reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 2, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{warningWith("The signing certificate CN=old.example.com expired on 2021-01-03")},
		},
		{
			name: "certificate expiring in 10 days is a warning",
			raw: idpEntityXML(sampleEntityID, "", redirect+keyXML("signing", certBase64(makeCert(t, certSpec{
				cn: "soon.example.com", notAfter: testNow.AddDate(0, 0, 10),
			})))),
			want:     reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{warningWith("CN=soon.example.com expires on 2026-12-14, in 10 days")},
		},
		{
			name: "certificate expiring soon beside a long-lived one is fine",
			raw: idpEntityXML(sampleEntityID, "", redirect+signing+keyXML("signing", certBase64(makeCert(t, certSpec{
				cn: "soon.example.com", notAfter: testNow.AddDate(0, 0, 10),
			})))),
			want: reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 2, SSOBindings: []string{"HTTP-Redirect"}},
		},
		{
			name: "not yet valid certificate beside a valid one is a warning",
			raw: idpEntityXML(sampleEntityID, "", redirect+signing+keyXML("signing", certBase64(makeCert(t, certSpec{
				cn: "next.example.com", notBefore: testNow.AddDate(0, 1, 0),
			})))),
			want:     reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 2, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{warningWith("CN=next.example.com is not valid until 2027-01-04")},
		},
		{
			name: "only a not yet valid certificate is an error",
			raw: idpEntityXML(sampleEntityID, "", redirect+keyXML("signing", certBase64(makeCert(t, certSpec{
				cn: "next.example.com", notBefore: testNow.AddDate(0, 1, 0),
			})))),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{errorWith("CN=next.example.com is not valid until 2027-01-04")},
		},
		{
			name:     "SHA-1 certificate signature is a warning",
			raw:      idpEntityXML(sampleEntityID, "", redirect+keyXML("signing", certBase64(makeCert(t, certSpec{cn: "sha1.example.com", sigAlg: x509.SHA1WithRSA})))),
			want:     reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{warningWith("CN=sha1.example.com is itself signed with SHA1-RSA")},
		},
		{
			name:     "RSA-1024 key is a warning",
			raw:      idpEntityXML(sampleEntityID, "", redirect+keyXML("signing", certBase64(makeCert(t, certSpec{cn: "short.example.com", key: "rsa1024"})))),
			want:     reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{warningWith("CN=short.example.com has a 1024-bit RSA key")},
		},
		{
			name: "ECDSA key is accepted",
			raw:  idpEntityXML(sampleEntityID, "", redirect+keyXML("signing", certBase64(makeCert(t, certSpec{key: "ecdsa"})))),
			want: reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
		},
		{
			name:     "Ed25519 key is an error",
			raw:      idpEntityXML(sampleEntityID, "", redirect+keyXML("signing", certBase64(makeCert(t, certSpec{cn: "ed.example.com", key: "ed25519"})))),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{errorWith("CN=ed.example.com has an Ed25519 key")},
		},
		{
			name: "certificate entry of base64 PEM text is an error naming the entry",
			raw: idpEntityXML(sampleEntityID, "", redirect+signing+
				keyXML("signing", base64.StdEncoding.EncodeToString([]byte(certPEM(makeCert(t, certSpec{})))))),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{errorWith(`Signing certificate 2 of 2 is not a DER certificate: its base64 decodes to PEM text ("-----BEGIN CERTIFICATE-----")`)},
		},
		{
			name:     "certificate entry with PEM armor is an error",
			raw:      idpEntityXML(sampleEntityID, "", redirect+keyXML("signing", certPEM(makeCert(t, certSpec{})))),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{errorWith("The signing certificate contains PEM header lines")},
		},
		{
			name:     "certificate entry that is not base64 is an error",
			raw:      idpEntityXML(sampleEntityID, "", redirect+keyXML("signing", "MIIC$$not*base64")),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{errorWith("The signing certificate is not valid base64")},
		},
		{
			name:     "certificate entry that is truncated DER is an error",
			raw:      idpEntityXML(sampleEntityID, "", redirect+keyXML("signing", certBase64(makeCert(t, certSpec{})[:200]))),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{errorWith("The signing certificate is not a valid X.509 certificate")},
		},
		{
			name:     "empty certificate entry is an error",
			raw:      idpEntityXML(sampleEntityID, "", redirect+keyXML("signing", "  \n ")),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{errorWith("The signing certificate is empty")},
		},
		{
			name:     "JumpCloud placeholder entity ID is a warning",
			raw:      idpEntityXML("IdP Entity ID", "", role),
			want:     reportSummary{HasMetadata: true, EntityID: "IdP Entity ID", SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect", "HTTP-POST"}},
			problems: []wantProblem{warningWith(`"IdP Entity ID" is JumpCloud's default placeholder`)},
		},
		{
			name:     "non-URI entity ID is a warning",
			raw:      idpEntityXML("acme-idp", "", role),
			want:     reportSummary{HasMetadata: true, EntityID: "acme-idp", SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect", "HTTP-POST"}},
			problems: []wantProblem{warningWith(`The entity ID "acme-idp" is not a URI`)},
		},
		{
			name: "URN entity ID is accepted",
			raw:  idpEntityXML("urn:dev-example.auth0.com", "", role),
			want: reportSummary{HasMetadata: true, EntityID: "urn:dev-example.auth0.com", SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect", "HTTP-POST"}},
		},
		{
			name:     "missing entity ID is an error",
			raw:      strings.Replace(valid, `entityID="https://idp.example.com/saml"`, "", 1),
			want:     reportSummary{HasErrors: true, HasMetadata: true, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect", "HTTP-POST"}},
			problems: []wantProblem{errorWith("The metadata has no entity ID")},
		},
		{
			name:     "entity ID over 1024 characters is an error",
			raw:      idpEntityXML("https://idp.example.com/"+strings.Repeat("a", 1024), "", role),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: "https://idp.example.com/" + strings.Repeat("a", 1024), SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect", "HTTP-POST"}},
			problems: []wantProblem{errorWith("SAML allows at most 1024")},
		},
		{
			name:     "elements in no namespace are an error",
			raw:      strings.NewReplacer("md:", "", "ds:", "").Replace(valid),
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith(`The element <EntityDescriptor> on line 2 is in no XML namespace. The document declares the prefix "md"`)},
		},
		{
			name:     "root in another namespace is an error",
			raw:      strings.Replace(valid, `xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"`, `xmlns:md="urn:oasis:names:tc:SAML:1.0:metadata"`, 1),
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("is in the namespace urn:oasis:names:tc:SAML:1.0:metadata, but SAML 2.0 metadata needs urn:oasis:names:tc:SAML:2.0:metadata")},
		},
		{
			name:     "undeclared prefix is an error",
			raw:      strings.Replace(valid, `xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" `, "", 1),
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith(`uses the prefix "md" without declaring it`)},
		},
		{
			name:     "certificate element outside the XML Signature namespace is an error",
			raw:      strings.Replace(valid, `xmlns:ds="http://www.w3.org/2000/09/xmldsig#"`, `xmlns:ds="http://www.w3.org/2000/09/xmldsig"`, 1),
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("The element <KeyInfo> on line 4 is in the namespace http://www.w3.org/2000/09/xmldsig")},
		},
		{
			name:     "PEM certificate pasted as metadata is an error pointing to the certificate field",
			raw:      certPEM(makeCert(t, certSpec{})),
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("This is a PEM certificate (-----BEGIN CERTIFICATE-----), not SAML metadata. Paste it into the signing certificate field instead")},
		},
		{
			name:     "bare base64 certificate pasted as metadata is an error",
			raw:      wrapBase64(certBase64(makeCert(t, certSpec{}))),
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("base64-encoded X.509 certificate, not SAML metadata. Paste it into the signing certificate field")},
		},
		{
			name:     "private key pasted as metadata is an error",
			raw:      "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\n",
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("This is a private key (-----BEGIN PRIVATE KEY-----)")},
		},
		{
			name:     "URL pasted as metadata is an error",
			raw:      "https://idp.example.com/metadata.xml",
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("This is a URL, not the metadata document. Enter it in the metadata URL field")},
		},
		{
			name:     "plain text is an error",
			raw:      "hello, here is our metadata",
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("The metadata is not XML")},
		},
		{
			name:     "truncated XML is an error with the line",
			raw:      valid[:len(valid)/2],
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("before all its elements are closed, so it is incomplete")},
		},
		{
			name:     "mismatched tags are an error with the line",
			raw:      strings.Replace(valid, "</md:IDPSSODescriptor>", "</md:IDPSSODescriptr>", 1),
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("The metadata is not well-formed XML: line 5: element <IDPSSODescriptor> closed by </IDPSSODescriptr>")},
		},
		{
			name:     "second root element is an error",
			raw:      valid + "\n" + idpEntityXML("https://b.example.com", "", role),
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("second root element <EntityDescriptor> on line 7")},
		},
		{
			name:     "text after the root is an error",
			raw:      valid + "\ntrailing words",
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("text outside its root element")},
		},
		{
			name:     "SP metadata is an error saying it is SP metadata",
			raw:      spEntityXML("https://sp.example.org/metadata"),
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith(`This is service provider (SP) metadata (entity ID "https://sp.example.org/metadata")`), errorWith("We need your IdP's metadata")},
		},
		{
			name: "AD FS entity with SP and IdP roles uses the IdP role",
			raw: strings.Replace(idpEntityXML(sampleEntityID, "", role), "<md:IDPSSODescriptor",
				`<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">`+
					`<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.com/adfs/ls/" index="0"/>`+
					`</md:SPSSODescriptor><md:IDPSSODescriptor`, 1),
			want: okSummary,
		},
		{
			name:     "IdP role without SAML 2.0 is an error",
			raw:      strings.Replace(valid, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"`, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol"`, 1),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect", "HTTP-POST"}},
			problems: []wantProblem{errorWith("The IdP supports only urn:oasis:names:tc:SAML:1.1:protocol, not SAML 2.0")},
		},
		{
			name:     "DOCTYPE with an entity is rejected before parsing",
			raw:      `<?xml version="1.0"?><!DOCTYPE md:EntityDescriptor [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>` + "\n" + idpEntityXML("&lol2;", "", role),
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("contains a DOCTYPE declaration")},
		},
		{
			name:     "lowercase doctype after the root is rejected",
			raw:      valid + "\n<!doctype x>",
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("contains a DOCTYPE declaration")},
		},
		{
			name:     "validUntil in the past is an error",
			raw:      idpEntityXML(sampleEntityID, ` validUntil="2025-07-10T14:06:36Z"`, role),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect", "HTTP-POST"}},
			problems: []wantProblem{errorWith("The metadata expired on 2025-07-10 (its validUntil date)")},
		},
		{
			name:     "validUntil of the aggregate applies to its entities",
			raw:      strings.Replace(aggregateDoc(idpEntityXML(sampleEntityID, "", role)), "<md:EntitiesDescriptor ", `<md:EntitiesDescriptor validUntil="2026-01-01T00:00:00Z" `, 1),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect", "HTTP-POST"}},
			problems: []wantProblem{errorWith("The metadata expired on 2026-01-01")},
		},
		{
			name:     "validUntil within 30 days is a warning",
			raw:      idpEntityXML(sampleEntityID, ` validUntil="2026-12-20T00:00:00"`, role),
			want:     okSummary,
			problems: []wantProblem{warningWith("The metadata is valid only until 2026-12-20")},
		},
		{
			name:     "invalid validUntil is an error",
			raw:      idpEntityXML(sampleEntityID, ` validUntil="next tuesday"`, role),
			want:     reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect", "HTTP-POST"}},
			problems: []wantProblem{errorWith(`validUntil value "next tuesday" is not a valid date and time`)},
		},
		{
			name:     "document over MaxMetadataBytes is an error",
			raw:      valid + "<!--" + strings.Repeat("x", MaxMetadataBytes) + "-->",
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("KB, larger than the 1024 KB gatehouse accepts")},
		},
		{
			name:     "empty input is an error",
			raw:      "",
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("The metadata is empty")},
		},
		{
			name:     "whitespace-only input is an error",
			raw:      "\xEF\xBB\xBF \n\t ",
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("The metadata is empty")},
		},
		{
			name:     "SAML response uploaded as metadata is an error",
			raw:      `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x"/>`,
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("This is a SAML Response message, not metadata")},
		},
		{
			name:     "HTML page uploaded as metadata is an error",
			raw:      "<html><body><p>Sign in</p></body></html>",
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("This is a web page, not SAML metadata")},
		},
		{
			name:     "comment-only document is an error",
			raw:      "<!-- nothing here -->",
			want:     reportSummary{HasErrors: true},
			problems: []wantProblem{errorWith("contains no XML element")},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Now = testNow
			got := ValidateMetadata([]byte(tt.raw), opts)

			if diff := cmp.Diff(tt.want, summarize(got)); diff != "" {
				t.Errorf("summary mismatch (-want +got):\n%s\nproblems:\n%s", diff, formatProblems(got.Problems))
			}
			checkProblems(t, got, fieldMetadata, tt.problems)
			if !tt.want.HasErrors && len(tt.problems) == 0 && len(got.Problems) > 0 {
				t.Errorf("unexpected problems:\n%s", formatProblems(got.Problems))
			}
		})
	}
}

func TestValidateMetadataTinyRSAKey(t *testing.T) {
	// Go refuses to generate RSA keys under 1024 bits without this setting.
	t.Setenv("GODEBUG", "rsa1024min=0")
	der := makeCert(t, certSpec{cn: "tiny.example.com", key: "rsa512"})
	raw := idpEntityXML(sampleEntityID, "", ssoXML(BindingRedirect, "https://idp.example.com/sso")+keyXML("signing", certBase64(der)))

	got := ValidateMetadata([]byte(raw), ValidateOptions{Now: testNow})

	checkProblems(t, got, fieldMetadata, []wantProblem{errorWith("CN=tiny.example.com has a 512-bit RSA key, too short")})
}

func TestValidateMetadataDescribesCertificate(t *testing.T) {
	der := makeCert(t, certSpec{cn: "idp.example.com", notBefore: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), notAfter: time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)})
	raw := idpEntityXML(sampleEntityID, "", ssoXML(BindingRedirect, "https://idp.example.com/sso")+keyXML("signing", certBase64(der)))

	got := ValidateMetadata([]byte(raw), ValidateOptions{Now: testNow})

	if got.Metadata == nil || len(got.Metadata.SigningCerts) != 1 {
		t.Fatalf("want one signing certificate; problems:\n%s", formatProblems(got.Problems))
	}
	cert := got.Metadata.SigningCerts[0]
	want := Certificate{
		DER:                der,
		Subject:            "CN=idp.example.com,O=Example IdP",
		Issuer:             "CN=idp.example.com,O=Example IdP",
		NotBefore:          time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC),
		NotAfter:           time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC),
		KeyAlgorithm:       "RSA",
		KeyBits:            2048,
		SignatureAlgorithm: "SHA256-RSA",
		SHA256Fingerprint:  cert.SHA256Fingerprint,
	}
	if diff := cmp.Diff(want, cert); diff != "" {
		t.Errorf("certificate mismatch (-want +got):\n%s", diff)
	}
	if len(cert.SHA256Fingerprint) != 32*3-1 || strings.ToUpper(cert.SHA256Fingerprint) != cert.SHA256Fingerprint {
		t.Errorf("fingerprint %q is not 32 upper-case hex pairs separated by colons", cert.SHA256Fingerprint)
	}
}

func TestValidateMetadataMetadataFields(t *testing.T) {
	role := validRole(t) + "<md:NameIDFormat>\n\t\turn:oasis:names:tc:SAML:2.0:nameid-format:persistent\n\t</md:NameIDFormat>"
	raw := strings.Replace(idpEntityXML(sampleEntityID, ` validUntil="2030-01-02T03:04:05Z"`, role),
		"<md:IDPSSODescriptor", `<ds:Signature><ds:SignedInfo/></ds:Signature><md:IDPSSODescriptor`, 1)

	got := ValidateMetadata([]byte(raw), ValidateOptions{Now: testNow})

	if got.Metadata == nil {
		t.Fatalf("no metadata; problems:\n%s", formatProblems(got.Problems))
	}
	md := got.Metadata
	if diff := cmp.Diff([]string{"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"}, md.NameIDFormats); diff != "" {
		t.Errorf("NameIDFormats mismatch (-want +got):\n%s", diff)
	}
	if md.ValidUntil == nil || !md.ValidUntil.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("ValidUntil = %v, want 2030-01-02T03:04:05Z", md.ValidUntil)
	}
	if !md.Signed {
		t.Error("Signed = false, want true for an enveloped ds:Signature")
	}
	if diff := cmp.Diff(Endpoint{Binding: BindingRedirect, Location: "https://idp.example.com/sso/redirect"}, md.PreferredSSO()); diff != "" {
		t.Errorf("PreferredSSO mismatch (-want +got):\n%s", diff)
	}
}

func TestPreferredSSO(t *testing.T) {
	redirect := Endpoint{Binding: BindingRedirect, Location: "https://idp.example.com/redirect"}
	post := Endpoint{Binding: BindingPOST, Location: "https://idp.example.com/post"}

	tests := []struct {
		name string
		md   *Metadata
		want Endpoint
	}{
		{"redirect listed after post wins", &Metadata{SSOEndpoints: []Endpoint{post, redirect}}, redirect},
		{"post alone is used", &Metadata{SSOEndpoints: []Endpoint{post}}, post},
		{"no endpoint gives the zero value", &Metadata{}, Endpoint{}},
		{"nil metadata gives the zero value", nil, Endpoint{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.md.PreferredSSO()); diff != "" {
				t.Errorf("PreferredSSO mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReportSeverities(t *testing.T) {
	r := Report{Problems: []Problem{
		{Field: "metadata", Severity: SeverityWarning, Message: "w1"},
		{Field: "metadata", Severity: SeverityError, Message: "e1"},
		{Field: "metadata", Severity: SeverityWarning, Message: "w2"},
	}}

	if !r.HasErrors() {
		t.Error("HasErrors = false, want true")
	}
	if diff := cmp.Diff([]Problem{r.Problems[1]}, r.Errors()); diff != "" {
		t.Errorf("Errors mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Problem{r.Problems[0], r.Problems[2]}, r.Warnings()); diff != "" {
		t.Errorf("Warnings mismatch (-want +got):\n%s", diff)
	}
	if (Report{Problems: r.Warnings()}).HasErrors() {
		t.Error("HasErrors = true for warnings only")
	}
}

// aggregateDoc wraps entities in an md:EntitiesDescriptor.
func aggregateDoc(entities ...string) string {
	var inner []string
	for _, e := range entities {
		inner = append(inner, strings.Replace(e, `<?xml version="1.0" encoding="UTF-8"?>`, "", 1))
	}
	return `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" Name="test-federation">` +
		"\n<!-- members -->\n" + strings.Join(inner, "\n") + "\n</md:EntitiesDescriptor>"
}

func manyEntityIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("https://idp%d.example.com", i+1)
	}
	return ids
}

func manyEntities(role string, n int) []string {
	var entities []string
	for _, id := range manyEntityIDs(n) {
		entities = append(entities, idpEntityXML(id, "", role))
	}
	return entities
}

// spEntityXML returns service provider metadata.
func spEntityXML(entityID string) string {
	return fmt.Sprintf(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="%s">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.org/acs" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>`, entityID)
}

// spaced puts a space after every 10th character, as some consoles do when
// they display a certificate.
func spaced(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%10 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func utf16Document(t *testing.T, s string) string {
	t.Helper()
	enc := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder()
	out, err := enc.Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode utf-16: %v", err)
	}
	return string(out)
}

func latin1Document(t *testing.T, s string) string {
	t.Helper()
	s = strings.Replace(s, "<md:IDPSSODescriptor", "<!-- Zürich IdP --><md:IDPSSODescriptor", 1)
	out, err := charmap.ISO8859_1.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode latin-1: %v", err)
	}
	if bytes.Equal(out, []byte(s)) {
		t.Fatal("latin-1 encoding changed nothing; the test would not prove decoding")
	}
	return string(out)
}

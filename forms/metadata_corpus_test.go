package forms

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const corpusDir = "testdata/idp-metadata"

// redirectPost and postRedirect are the SSO bindings of most corpus files, in
// document order.
var (
	redirectPost = []string{"HTTP-Redirect", "HTTP-POST"}
	postRedirect = []string{"HTTP-POST", "HTTP-Redirect"}
)

// TestValidateMetadataCorpus checks the verdict on every real IdP metadata
// file in testdata/idp-metadata, with the clock pinned to testNow
// (2026-12-04).
func TestValidateMetadataCorpus(t *testing.T) {
	tests := []struct {
		file     string
		want     reportSummary
		problems []wantProblem
		// clean means the file must produce no problem at all.
		clean bool
	}{
		{
			file: "adfs-ucar-signed.xml",
			want: reportSummary{HasErrors: true, HasMetadata: true, EntityID: "https://sts.ucar.edu/adfs/services/trust", SigningCerts: 1, SSOBindings: redirectPost},
			problems: []wantProblem{
				errorWith("The signing certificate CN=ADFS Signing - sts.ucar.edu expired on 2018-10-01"),
			},
		},
		{
			file:  "auth0-leading-comment.xml",
			want:  reportSummary{HasMetadata: true, EntityID: "urn:dev-tyj7qyzz.auth0.com", SigningCerts: 1, SSOBindings: redirectPost},
			clean: true,
		},
		{
			file: "azure-ad-2017-three-certs-bom.xml",
			want: reportSummary{HasErrors: true, HasMetadata: true, EntityID: "https://sts.windows.net/8b966979-910b-487c-a604-69229b1ac75c/", SigningCerts: 3, SSOBindings: redirectPost},
			problems: []wantProblem{
				errorWith("CN=accounts.accesscontrol.windows.net (SHA-256 DB:B5:6B:43…) expired on 2019-01-04"),
				errorWith("CN=accounts.accesscontrol.windows.net (SHA-256 3C:B3:E2:A1…) expired on 2019-02-14"),
				errorWith("CN=login.microsoftonline.us expired on 2018-11-16"),
			},
		},
		{
			file: "entra-id-2023-signed-bom.xml",
			want: reportSummary{HasErrors: true, HasMetadata: true, EntityID: "https://sts.windows.net/a9054a0f-2011-4e31-b3ac-fd8c354146ec/", SigningCerts: 1, SSOBindings: redirectPost},
			problems: []wantProblem{
				errorWith("The signing certificate CN=Microsoft Azure Federated SSO Certificate expired on 2026-11-16"),
			},
		},
		{
			file: "google-workspace-2016-expired.xml",
			want: reportSummary{HasErrors: true, HasMetadata: true, EntityID: "https://accounts.google.com/o/saml2?idpid=C02dfl1r1", SigningCerts: 1, SSOBindings: []string{"HTTP-POST"}},
			problems: []wantProblem{
				errorWith("The signing certificate CN=Google expired on 2021-01-03"),
				errorWith("The metadata expired on 2021-01-03 (its validUntil date)"),
			},
		},
		{
			file:  "google-workspace-2023.xml",
			want:  reportSummary{HasMetadata: true, EntityID: "https://accounts.google.com/o/saml2?idpid=C029op2ga", SigningCerts: 1, SSOBindings: redirectPost},
			clean: true,
		},
		{
			file: "jumpcloud-post-only.xml",
			want: reportSummary{HasMetadata: true, EntityID: "IdP Entity ID", SigningCerts: 1, SSOBindings: []string{"HTTP-POST"}},
			problems: []wantProblem{
				warningWith(`The entity ID "IdP Entity ID" is JumpCloud's default placeholder, not a URI`),
			},
		},
		{
			file: "keycloak-localhost.xml",
			want: reportSummary{HasMetadata: true, EntityID: "http://localhost:8085/realms/master", SigningCerts: 1, SSOBindings: postRedirect},
			problems: []wantProblem{
				warningWith(`The SSO URL "http://localhost:8085/realms/master/protocol/saml" uses http, not https`),
				warningWith("points to localhost"),
			},
		},
		{
			file: "mocksaml-no-namespace.xml",
			want: reportSummary{HasErrors: true},
			problems: []wantProblem{
				errorWith(`The element <EntityDescriptor> on line 2 is in no XML namespace. The document declares the prefix "md" for urn:oasis:names:tc:SAML:2.0:metadata but does not use it`),
			},
		},
		{
			file: "multi-signing-certs-broken-entries.xml",
			want: reportSummary{HasErrors: true, HasMetadata: true, EntityID: "https://idp.examle.com/saml/metadata", SigningCerts: 2, SSOBindings: []string{"HTTP-Redirect"}},
			problems: []wantProblem{
				errorWith(`Signing certificate 3 of 3 is not a DER certificate: its base64 decodes to PEM text ("-----BEGIN CERTIFICATE-----")`),
				errorWith("CN=OneLogin Account 89146 expired on 2021-08-05"),
				errorWith("CN=example.com expired on 2018-04-15"),
				warningWith("CN=example.com has a 1024-bit RSA key"),
				warningWith("CN=OneLogin Account 89146 is itself signed with SHA1-RSA"),
			},
		},
		{
			file:  "okta-2024.xml",
			want:  reportSummary{HasMetadata: true, EntityID: "http://www.okta.com/exkdoocxa1VmjpXmX697", SigningCerts: 1, SSOBindings: postRedirect},
			clean: true,
		},
		{
			file:  "okta-preview-2018.xml",
			want:  reportSummary{HasMetadata: true, EntityID: "http://www.okta.com/exkppsa1qwuFV4D7z0h7", SigningCerts: 1, SSOBindings: postRedirect},
			clean: true,
		},
		{
			file: "onelogin-2013-expired-sha1.xml",
			want: reportSummary{HasErrors: true, HasMetadata: true, EntityID: "https://app.onelogin.com/saml/metadata/503983", SigningCerts: 1, SSOBindings: []string{"HTTP-POST"}},
			problems: []wantProblem{
				errorWith("The signing certificate CN=OneLogin Account 32614 expired on 2018-10-01"),
				warningWith("CN=OneLogin Account 32614 is itself signed with SHA1-RSA"),
			},
		},
		{
			file: "onelogin-separate-encryption-cert.xml",
			want: reportSummary{HasErrors: true, HasMetadata: true, EntityID: "https://app.onelogin.com/saml/metadata/383123", SigningCerts: 1, SSOBindings: redirectPost},
			problems: []wantProblem{
				errorWith("The signing certificate CN=app.onelogin.com expired on 2018-06-05"),
				warningWith("CN=app.onelogin.com is itself signed with SHA1-RSA"),
			},
		},
		{
			file: "pingone-2023-expired.xml",
			want: reportSummary{HasErrors: true, HasMetadata: true, EntityID: "https://auth.pingone.com/3030059e-440b-4ad0-9217-44326f1757f6", SigningCerts: 1, SSOBindings: postRedirect},
			problems: []wantProblem{
				errorWith("The signing certificate CN=PingOne SSO Certificate for Administrators environment expired on 2024-11-17"),
			},
		},
		{
			file:  "shibboleth-clarin-no-key-use.xml",
			want:  reportSummary{HasMetadata: true, EntityID: "https://idp.clarin.eu", SigningCerts: 1, SSOBindings: postRedirect},
			clean: true,
		},
		{
			file:  "shibboleth-kln-two-signing-certs.xml",
			want:  reportSummary{HasMetadata: true, EntityID: "https://idp.kln.ac.lk/idp/shibboleth", SigningCerts: 2, SSOBindings: postRedirect},
			clean: true,
		},
		{
			file:  "shibboleth-testshib-aggregate.xml",
			want:  reportSummary{HasMetadata: true, EntityID: "https://idp.testshib.org/idp/shibboleth", SigningCerts: 1, SSOBindings: postRedirect},
			clean: true,
		},
		{
			file: "shibboleth-umich-signed-aggregate.xml",
			want: reportSummary{HasErrors: true, HasMetadata: true, EntityID: "https://shibboleth.umich.edu/idp/shibboleth", SigningCerts: 2, SSOBindings: postRedirect},
			problems: []wantProblem{
				errorWith("The metadata expired on 2025-07-10 (its validUntil date)"),
				warningWith("is itself signed with SHA1-RSA"),
			},
		},
	}

	files, err := filepath.Glob(filepath.Join(corpusDir, "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("corpus has %d files but the table covers %d; add the new files to the table", len(files), len(tests))
	}

	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(corpusDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}

			got := ValidateMetadata(raw, ValidateOptions{Now: testNow})

			if diff := cmp.Diff(tt.want, summarize(got)); diff != "" {
				t.Errorf("summary mismatch (-want +got):\n%s\nproblems:\n%s", diff, formatProblems(got.Problems))
			}
			checkProblems(t, got, fieldMetadata, tt.problems)
			if tt.clean && len(got.Problems) > 0 {
				t.Errorf("want no problems, got:\n%s", formatProblems(got.Problems))
			}
		})
	}
}

// TestValidateMetadataCorpusDetails checks facts of single corpus files that
// the summary does not cover.
func TestValidateMetadataCorpusDetails(t *testing.T) {
	t.Run("signed documents are reported as signed", func(t *testing.T) {
		for _, file := range []string{"adfs-ucar-signed.xml", "azure-ad-2017-three-certs-bom.xml", "entra-id-2023-signed-bom.xml", "shibboleth-umich-signed-aggregate.xml"} {
			md := corpusMetadata(t, file)
			if !md.Signed {
				t.Errorf("%s: Signed = false, want true", file)
			}
		}
		if corpusMetadata(t, "okta-2024.xml").Signed {
			t.Error("okta-2024.xml: Signed = true, want false")
		}
	})

	t.Run("Auth0 NameID formats are trimmed", func(t *testing.T) {
		want := []string{
			"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
			"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
			"urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
		}
		if diff := cmp.Diff(want, corpusMetadata(t, "auth0-leading-comment.xml").NameIDFormats); diff != "" {
			t.Errorf("NameIDFormats mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("JumpCloud key is RSA-4096 with SHA-256", func(t *testing.T) {
		c := corpusMetadata(t, "jumpcloud-post-only.xml").SigningCerts[0]
		got := []any{c.KeyAlgorithm, c.KeyBits, c.SignatureAlgorithm}
		if diff := cmp.Diff([]any{"RSA", 4096, "SHA256-RSA"}, got); diff != "" {
			t.Errorf("key mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("Okta prefers the Redirect endpoint listed second", func(t *testing.T) {
		got := corpusMetadata(t, "okta-2024.xml").PreferredSSO()
		want := Endpoint{Binding: BindingRedirect, Location: "https://trial-1022863.okta.com/app/trial-1022863_oktalocalhostbis_1/exkdoocxa1VmjpXmX697/sso/saml"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PreferredSSO mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("Google 2016 has one POST endpoint for its two identical entries", func(t *testing.T) {
		got := corpusMetadata(t, "google-workspace-2016-expired.xml").SSOEndpoints
		want := []Endpoint{{Binding: BindingPOST, Location: "https://accounts.google.com/o/saml2/idp?idpid=C02dfl1r1"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("SSOEndpoints mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("AD FS encryption certificate is left out", func(t *testing.T) {
		var subjects []string
		for _, c := range corpusMetadata(t, "adfs-ucar-signed.xml").SigningCerts {
			subjects = append(subjects, c.Subject)
		}
		if diff := cmp.Diff([]string{"CN=ADFS Signing - sts.ucar.edu"}, subjects); diff != "" {
			t.Errorf("signing certificate subjects mismatch (-want +got):\n%s", diff)
		}
	})
}

func corpusMetadata(t *testing.T, file string) *Metadata {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(corpusDir, file))
	if err != nil {
		t.Fatal(err)
	}
	r := ValidateMetadata(raw, ValidateOptions{Now: testNow})
	if r.Metadata == nil {
		t.Fatalf("%s: no metadata; problems:\n%s", file, formatProblems(r.Problems))
	}
	return r.Metadata
}

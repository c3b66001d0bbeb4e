package forms

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidateManual(t *testing.T) {
	der := makeCert(t, certSpec{})
	second := makeCert(t, certSpec{cn: "next.example.com"})
	const ssoURL = "https://idp.example.com/sso"

	type want struct {
		summary  reportSummary
		problems map[string][]wantProblem // by field
	}
	tests := []struct {
		name        string
		entityID    string
		ssoURL      string
		binding     Binding
		certificate string
		want        want
	}{
		{
			name:        "PEM certificate with Redirect by default",
			entityID:    sampleEntityID,
			ssoURL:      ssoURL,
			certificate: certPEM(der),
			want:        want{summary: reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}}},
		},
		{
			name:        "bare base64 DER with line breaks and POST",
			entityID:    "  " + sampleEntityID + "\n",
			ssoURL:      ssoURL,
			binding:     BindingPOST,
			certificate: wrapBase64(certBase64(der)),
			want:        want{summary: reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-POST"}}},
		},
		{
			name:        "two PEM certificates are both kept",
			entityID:    sampleEntityID,
			ssoURL:      ssoURL,
			certificate: certPEM(der) + "\n" + certPEM(second),
			want:        want{summary: reportSummary{HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 2, SSOBindings: []string{"HTTP-Redirect"}}},
		},
		{
			name:        "all values missing",
			certificate: " ",
			want: want{
				summary: reportSummary{HasErrors: true},
				problems: map[string][]wantProblem{
					fieldEntityID:    {errorWith("Enter your IdP's entity ID")},
					fieldSSOURL:      {errorWith("Enter your IdP's SSO URL")},
					fieldCertificate: {errorWith("Paste your IdP's signing certificate")},
				},
			},
		},
		{
			name:        "placeholder entity ID is a warning",
			entityID:    "IdP Entity ID",
			ssoURL:      ssoURL,
			certificate: certPEM(der),
			want: want{
				summary:  reportSummary{HasMetadata: true, EntityID: "IdP Entity ID", SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
				problems: map[string][]wantProblem{fieldEntityID: {warningWith("JumpCloud's default placeholder")}},
			},
		},
		{
			name:        "SOAP binding is an error",
			entityID:    sampleEntityID,
			ssoURL:      ssoURL,
			binding:     bindingSOAP,
			certificate: certPEM(der),
			want: want{
				summary:  reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1},
				problems: map[string][]wantProblem{fieldSSOURL: {errorWith(`The SSO binding "SOAP" is not supported`)}},
			},
		},
		{
			name:        "SSO URL without scheme is an error",
			entityID:    sampleEntityID,
			ssoURL:      "idp.example.com/sso",
			certificate: certPEM(der),
			want: want{
				summary:  reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1},
				problems: map[string][]wantProblem{fieldSSOURL: {errorWith(`The SSO URL "idp.example.com/sso" is not an absolute https URL`)}},
			},
		},
		{
			name:        "private key in the certificate field is an error",
			entityID:    sampleEntityID,
			ssoURL:      ssoURL,
			certificate: "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----\n",
			want: want{
				summary:  reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SSOBindings: []string{"HTTP-Redirect"}},
				problems: map[string][]wantProblem{fieldCertificate: {errorWith("contains a private key (-----BEGIN RSA PRIVATE KEY-----)")}},
			},
		},
		{
			name:        "metadata in the certificate field is an error",
			entityID:    sampleEntityID,
			ssoURL:      ssoURL,
			certificate: validMetadata(t),
			want: want{
				summary:  reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SSOBindings: []string{"HTTP-Redirect"}},
				problems: map[string][]wantProblem{fieldCertificate: {errorWith("This looks like XML metadata, not a certificate")}},
			},
		},
		{
			name:        "PEM without END line is an error",
			entityID:    sampleEntityID,
			ssoURL:      ssoURL,
			certificate: strings.TrimSuffix(strings.TrimSpace(certPEM(der)), "-----END CERTIFICATE-----"),
			want: want{
				summary:  reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SSOBindings: []string{"HTTP-Redirect"}},
				problems: map[string][]wantProblem{fieldCertificate: {errorWith("The certificate is incomplete PEM")}},
			},
		},
		{
			name:        "expired certificate is an error on the certificate field",
			entityID:    sampleEntityID,
			ssoURL:      ssoURL,
			certificate: certPEM(makeCert(t, certSpec{cn: "old.example.com", notBefore: testNow.AddDate(-3, 0, 0), notAfter: testNow.AddDate(0, 0, -1)})),
			want: want{
				summary: reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SigningCerts: 1, SSOBindings: []string{"HTTP-Redirect"}},
				problems: map[string][]wantProblem{fieldCertificate: {errorWith("CN=old.example.com expired on 2026-12-03. " +
					"If your IdP still signs with it, create a new signing certificate there first. " +
					"Copy the current signing certificate from your IdP and paste it again.")}},
			},
		},
		{
			name:        "base64 of a PEM text is an error",
			entityID:    sampleEntityID,
			ssoURL:      ssoURL,
			certificate: "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMK",
			want: want{
				summary:  reportSummary{HasErrors: true, HasMetadata: true, EntityID: sampleEntityID, SSOBindings: []string{"HTTP-Redirect"}},
				problems: map[string][]wantProblem{fieldCertificate: {errorWith("its base64 decodes to PEM text")}},
			},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ValidateManual(tt.entityID, tt.ssoURL, tt.binding, tt.certificate, ValidateOptions{Now: testNow})

			if diff := cmp.Diff(tt.want.summary, summarize(got)); diff != "" {
				t.Errorf("summary mismatch (-want +got):\n%s\nproblems:\n%s", diff, formatProblems(got.Problems))
			}
			for field, problems := range tt.want.problems {
				checkProblems(t, onField(got, field), field, problems)
			}
			if len(tt.want.problems) == 0 && len(got.Problems) > 0 {
				t.Errorf("unexpected problems:\n%s", formatProblems(got.Problems))
			}
		})
	}
}

// onField returns r with only the problems on field.
func onField(r Report, field string) Report {
	var matching []Problem
	for _, p := range r.Problems {
		if p.Field == field {
			matching = append(matching, p)
		}
	}
	r.Problems = matching
	return r
}

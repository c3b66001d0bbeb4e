package portal_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/forms"
)

// corpusCases lists every fixture with the outcome of uploading it through
// the setup form at setupClock: accepted (303) with wantWarning among the
// stored warnings, or rejected (422) with wantError beside the field that
// shows the uploaded document.
var corpusCases = []struct {
	file        string
	accepted    bool
	wantError   string
	wantWarning string
}{
	{file: "okta-2024.xml", accepted: true},
	{file: "okta-preview-2018.xml", accepted: true},
	{file: "entra-id-2023-signed-bom.xml", wantError: "Microsoft Azure Federated SSO Certificate expired on 2026-11-16"},
	{file: "azure-ad-2017-three-certs-bom.xml", wantError: "CN=login.microsoftonline.us expired on 2018-11-16"},
	{file: "adfs-ucar-signed.xml", wantError: "ADFS Signing - sts.ucar.edu expired on 2018-10-01"},
	{file: "google-workspace-2023.xml", accepted: true},
	{file: "google-workspace-2016-expired.xml", wantError: "The metadata expired on 2021-01-03"},
	{file: "onelogin-2013-expired-sha1.xml", wantError: "OneLogin Account 32614 expired on 2018-10-01"},
	{file: "onelogin-separate-encryption-cert.xml", wantError: "CN=app.onelogin.com expired on 2018-06-05"},
	{file: "jumpcloud-post-only.xml", accepted: true, wantWarning: "JumpCloud's default placeholder"},
	{file: "pingone-2023-expired.xml", wantError: "PingOne SSO Certificate for Administrators environment expired on 2024-11-17"},
	{file: "keycloak-localhost.xml", accepted: true, wantWarning: "localhost"},
	{file: "auth0-leading-comment.xml", accepted: true},
	{file: "shibboleth-testshib-aggregate.xml", accepted: true},
	{file: "shibboleth-umich-signed-aggregate.xml", wantError: "The metadata expired on 2025-07-10"},
	{file: "shibboleth-clarin-no-key-use.xml", accepted: true},
	{file: "shibboleth-kln-two-signing-certs.xml", accepted: true},
	{file: "multi-signing-certs-broken-entries.xml", wantError: "Signing certificate 3 of 3 is not a DER certificate"},
	{file: "mocksaml-no-namespace.xml", wantError: "is in no XML namespace"},
}

func TestSetupCorpusUploads(t *testing.T) {
	t.Parallel()
	for _, tc := range corpusCases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			env := newSetupEnv(t)
			values := validForm(t)
			values.Set("metadata_source", "upload")
			values.Del("metadata")
			file := &upload{Name: tc.file, ContentType: "text/xml", Data: corpusFile(t, tc.file)}

			rec := env.postMultipart("/setup", values, file, "192.0.2.30")
			if tc.accepted {
				checkAccepted(t, env, rec, tc.wantWarning)
				return
			}
			checkRejected(t, env, rec, tc.file, tc.wantError)
		})
	}
}

func checkAccepted(t *testing.T, env *setupEnv, rec *httptest.ResponseRecorder, wantWarning string) {
	t.Helper()
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("status %d, want 303; summary:\n%s", rec.Code, errorSummary(rec.Body.String()))
	}
	r := env.onlyRequest()
	if r.MetadataXML == "" || r.IdPEntityID == "" || r.SSOURL == "" || len(r.Certificates) == 0 {
		t.Errorf("stored request lacks metadata: entity %q, SSO %q, %d certificates", r.IdPEntityID, r.SSOURL, len(r.Certificates))
	}
	var report forms.StoredReport
	if err := json.Unmarshal(r.MetadataReport, &report); err != nil {
		t.Fatalf("decode metadata_report: %v", err)
	}
	if report.Source != forms.SourceUpload {
		t.Errorf("report source = %q, want upload", report.Source)
	}
	if wantWarning == "" {
		return
	}
	for _, p := range report.Problems {
		if p.Severity == forms.SeverityWarning && strings.Contains(p.Message, wantWarning) {
			return
		}
	}
	t.Errorf("stored warnings %+v lack %q", report.Problems, wantWarning)
}

func checkRejected(t *testing.T, env *setupEnv, rec *httptest.ResponseRecorder, file, wantError string) {
	t.Helper()
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", rec.Code)
	}
	body := rec.Body.String()
	if got := fieldErrors(body, "metadata"); !strings.Contains(got, wantError) {
		t.Errorf("metadata errors = %q, want one containing %q", got, wantError)
	}
	if !strings.Contains(body, `href="#field-metadata"`) {
		t.Errorf("error summary does not link to the metadata field")
	}
	if !strings.Contains(body, "We put the contents of <b>"+file+"</b> in this box") {
		t.Errorf("page does not say the upload was kept in the paste box")
	}
	if n := env.count("setup_requests"); n != 0 {
		t.Errorf("%d requests stored after a rejected upload, want 0", n)
	}
	if n := env.count("outbox"); n != 0 {
		t.Errorf("%d mails enqueued after a rejected upload, want 0", n)
	}
}

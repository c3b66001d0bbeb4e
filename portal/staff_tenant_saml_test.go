package portal

import (
	"bytes"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// postMultipart posts fields and, when fileName is set, a metadata_file
// upload, as a browser sends the SAML form.
func (c *staffClient) postMultipart(path string, fields url.Values, fileName string, file []byte) staffResponse {
	c.env.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for name, values := range fields {
		for _, v := range values {
			_ = w.WriteField(name, v)
		}
	}
	if fileName != "" {
		part, err := w.CreateFormFile("metadata_file", fileName)
		if err != nil {
			c.env.t.Fatal(err)
		}
		_, _ = part.Write(file)
	}
	_ = w.Close()
	req, _ := http.NewRequest(http.MethodPost, c.url(path), &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.do(req)
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/idp-metadata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// connectFromFixture gives the tenant the SAML connection that a metadata
// fixture describes, as approving a setup request would.
func (env *staffEnv) connectFromFixture(t tenants.Tenant, name string) tenants.SAMLConnection {
	env.t.Helper()
	raw := readFixture(env.t, name)
	report := forms.ValidateMetadata(raw, forms.ValidateOptions{})
	if report.HasErrors() {
		env.t.Fatalf("fixture %s: %v", name, report.Errors())
	}
	conn := forms.ConnectionFromMetadata(report.Metadata, string(raw))
	conn.TenantID = t.ID
	if err := env.srv.tenants.SetSAMLConnection(env.t.Context(), conn); err != nil {
		env.t.Fatal(err)
	}
	return conn
}

var hiddenFieldPattern = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// saveFormIn returns the fields of the form that saves a reviewed replacement.
func saveFormIn(t *testing.T, body string) url.Values {
	t.Helper()
	i := strings.Index(body, `name="step" value="save"`)
	if i < 0 {
		t.Fatalf("the page has no form that saves:\n%s", body)
	}
	end := strings.Index(body[i:], "</form>")
	fields := url.Values{}
	for _, m := range hiddenFieldPattern.FindAllStringSubmatch(body[i-100:i+end], -1) {
		fields.Set(m[1], html.UnescapeString(m[2]))
	}
	return fields
}

// twoIdPAggregate wraps the Okta and Google Workspace fixtures in one
// EntitiesDescriptor, so the validator requests a choice of IdP.
func twoIdPAggregate(t *testing.T) string {
	t.Helper()
	var entities []string
	for _, name := range []string{"okta-2024.xml", "google-workspace-2023.xml"} {
		doc := string(readFixture(t, name))
		entities = append(entities, doc[strings.Index(doc, "?>")+2:])
	}
	return `<?xml version="1.0" encoding="UTF-8"?><md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">` +
		strings.Join(entities, "") + `</md:EntitiesDescriptor>`
}

func fingerprints(ders [][]byte) []string {
	out := []string{}
	for _, der := range ders {
		out = append(out, forms.DiffSAMLConnections(nil, tenants.SAMLConnection{Certificates: [][]byte{der}}).Certificates[0].Fingerprint)
	}
	return out
}

func TestReplaceSAMLFromUpload(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	tenant, _ := env.tenantWithToken("replace-co")
	before := env.connectFromFixture(tenant, "google-workspace-2023.xml")
	c := env.client()
	c.signIn("ada@gatehouse.example", env.addStaff("ada@gatehouse.example", forms.RoleAdmin))

	page := c.get("/staff/tenants/replace-co")
	if !strings.Contains(page.Body, `action="/staff/tenants/replace-co/saml"`) {
		t.Fatal("the tenant page has no form to replace the SAML connection")
	}

	okta := readFixture(t, "okta-2024.xml")
	preview := c.postMultipart("/staff/tenants/replace-co/saml", url.Values{"metadata_source": {"upload"}}, "metadata.xml", okta)
	if preview.Status != http.StatusOK {
		t.Fatalf("preview: status %d:\n%s", preview.Status, preview.Body)
	}
	for _, want := range []string{
		"https://accounts.google.com/o/saml2?idpid=C029op2ga", "http://www.okta.com/exkdoocxa1VmjpXmX697",
		"Added", "Removed", "Changed", "HTTP-Redirect",
	} {
		if !strings.Contains(html.UnescapeString(preview.Body), want) {
			t.Errorf("the preview lacks %q", want)
		}
	}
	if got, _ := env.srv.tenants.SAMLConnection(t.Context(), tenant.ID); got.IdPEntityID != before.IdPEntityID {
		t.Fatalf("the preview changed the entity ID to %s", got.IdPEntityID)
	}

	fields := saveFormIn(t, preview.Body)
	saved := c.postMultipart("/staff/tenants/replace-co/saml", fields, "", nil)
	if saved.Status != http.StatusSeeOther || saved.Location != "/staff/tenants/replace-co?done=saml#saml" {
		t.Fatalf("save: status %d, location %q:\n%s", saved.Status, saved.Location, saved.Body)
	}
	got, err := env.srv.tenants.SAMLConnection(t.Context(), tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	report := forms.ValidateMetadata(okta, forms.ValidateOptions{})
	want := forms.ConnectionFromMetadata(report.Metadata, string(okta))
	if diff := cmp.Diff(
		[]string{want.IdPEntityID, want.SSOURL, want.SSOBinding, want.MetadataXML},
		[]string{got.IdPEntityID, got.SSOURL, got.SSOBinding, got.MetadataXML}); diff != "" {
		t.Errorf("connection (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fingerprints(want.Certificates), fingerprints(got.Certificates)); diff != "" {
		t.Errorf("certificates (-want +got):\n%s", diff)
	}
	if n := env.auditCount("tenant.saml_replace"); n != 1 {
		t.Errorf("tenant.saml_replace audit rows = %d, want 1", n)
	}
	after := c.get("/staff/tenants/replace-co?done=saml")
	for _, want := range []string{"The SAML connection was replaced", "SAML connection replaced from new metadata"} {
		if !strings.Contains(after.Body, want) {
			t.Errorf("the tenant page after saving lacks %q", want)
		}
	}
}

func TestReplaceSAMLShowsProblems(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	tenant, _ := env.tenantWithToken("problem-co")
	before := env.connectFromFixture(tenant, "google-workspace-2023.xml")
	c := env.client()
	c.signIn("ada@gatehouse.example", env.addStaff("ada@gatehouse.example", forms.RoleAdmin))

	cases := []struct {
		name     string
		fields   url.Values
		file     string
		wantID   string // the element that holds the message, beside its field
		wantText string
	}{
		{"no source chosen", url.Values{}, "", "error-metadata_source", "Choose whether to upload"},
		{"no file chosen", url.Values{"metadata_source": {"upload"}}, "", "error-metadata_file", "Choose your IdP"},
		{"empty paste", url.Values{"metadata_source": {"paste"}}, "", "error-metadata", "Paste your IdP"},
		{"expired certificate", url.Values{"metadata_source": {"paste"}, "metadata": {string(readFixture(t, "pingone-2023-expired.xml"))}}, "",
			"error-metadata", "expired on 2024-11-17"},
		{"uploaded expired file", url.Values{"metadata_source": {"upload"}}, "pingone-2023-expired.xml",
			"error-metadata", "expired on 2024-11-17"},
		{"aggregate without a choice", url.Values{"metadata_source": {"paste"}, "metadata": {twoIdPAggregate(t)}}, "",
			"error-entity_choice", "Choose which IdP entity"},
	}
	for _, tc := range cases {
		var file []byte
		if tc.file != "" {
			file = readFixture(t, tc.file)
		}
		res := c.postMultipart("/staff/tenants/problem-co/saml", tc.fields, tc.file, file)
		if res.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422", tc.name, res.Status)
			continue
		}
		i := strings.Index(res.Body, `id="`+tc.wantID+`"`)
		if i < 0 || !strings.Contains(html.UnescapeString(res.Body[i:min(i+1500, len(res.Body))]), tc.wantText) {
			t.Errorf("%s: no %q in #%s:\n%s", tc.name, tc.wantText, tc.wantID, res.Body)
		}
		if strings.Contains(res.Body, `value="save"`) {
			t.Errorf("%s: the page offers to save metadata with errors", tc.name)
		}
	}
	if got, _ := env.srv.tenants.SAMLConnection(t.Context(), tenant.ID); got.IdPEntityID != before.IdPEntityID {
		t.Errorf("rejected metadata changed the entity ID to %s", got.IdPEntityID)
	}
	if n := env.auditCount("tenant.saml_replace"); n != 0 {
		t.Errorf("tenant.saml_replace audit rows = %d, want 0", n)
	}
}

func TestReplaceSAMLNeedsAdmin(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	tenant, _ := env.tenantWithToken("guarded-co")
	env.connectFromFixture(tenant, "google-workspace-2023.xml")
	c := env.client()
	c.signIn("rita@gatehouse.example", env.addStaff("rita@gatehouse.example", forms.RoleReviewer))

	if page := c.get("/staff/tenants/guarded-co"); strings.Contains(page.Body, `action="/staff/tenants/guarded-co/saml"`) {
		t.Error("a reviewer sees the form that replaces the SAML connection")
	}
	fields := url.Values{"metadata_source": {"paste"}, "metadata": {string(readFixture(t, "okta-2024.xml"))}, "step": {"save"}}
	if res := c.postMultipart("/staff/tenants/guarded-co/saml", fields, "", nil); res.Status != http.StatusForbidden {
		t.Errorf("reviewer's replacement: status %d, want 403", res.Status)
	}
	if n := env.auditCount("tenant.saml_replace"); n != 0 {
		t.Errorf("tenant.saml_replace audit rows = %d, want 0", n)
	}
}

func TestReplaceSAMLChangedMeanwhile(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	tenant, _ := env.tenantWithToken("racing-co")
	env.connectFromFixture(tenant, "google-workspace-2023.xml")
	c := env.client()
	c.signIn("ada@gatehouse.example", env.addStaff("ada@gatehouse.example", forms.RoleAdmin))

	preview := c.postMultipart("/staff/tenants/racing-co/saml",
		url.Values{"metadata_source": {"paste"}, "metadata": {string(readFixture(t, "okta-2024.xml"))}}, "", nil)
	fields := saveFormIn(t, preview.Body)
	time.Sleep(time.Millisecond)
	env.connectFromFixture(tenant, "shibboleth-kln-two-signing-certs.xml")

	res := c.postMultipart("/staff/tenants/racing-co/saml", fields, "", nil)
	if res.Status != http.StatusOK || !strings.Contains(res.Body, "Someone changed this SAML connection") {
		t.Fatalf("stale save: status %d, want 200 with a notice:\n%s", res.Status, res.Body)
	}
	if !strings.Contains(res.Body, "https://idp.kln.ac.lk/idp/shibboleth") {
		t.Error("the new diff does not compare with the connection saved meanwhile")
	}
	got, _ := env.srv.tenants.SAMLConnection(t.Context(), tenant.ID)
	if got.IdPEntityID != "https://idp.kln.ac.lk/idp/shibboleth" {
		t.Errorf("the stale save replaced the connection with %s", got.IdPEntityID)
	}
}

func TestReplaceSAMLKeepsCurrentCertificates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		keep string
		want int // certificates trusted after saving
	}{
		{"keep on trusts old and new", "on", 2},
		{"keep off trusts only new", "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newStaffEnv(t)
			tenant, _ := env.tenantWithToken("keeping-co")
			before := env.connectFromFixture(tenant, "google-workspace-2023.xml")
			c := env.client()
			c.signIn("ada@gatehouse.example", env.addStaff("ada@gatehouse.example", forms.RoleAdmin))

			fields := url.Values{"metadata_source": {"paste"}, "metadata": {string(readFixture(t, "okta-2024.xml"))}}
			if tc.keep != "" {
				fields.Set("keep_current", tc.keep)
			}
			preview := c.postMultipart("/staff/tenants/keeping-co/saml", fields, "", nil)
			if res := c.postMultipart("/staff/tenants/keeping-co/saml", saveFormIn(t, preview.Body), "", nil); res.Status != http.StatusSeeOther {
				t.Fatalf("save: status %d:\n%s", res.Status, res.Body)
			}
			got, _ := env.srv.tenants.SAMLConnection(t.Context(), tenant.ID)
			if len(got.Certificates) != tc.want {
				t.Fatalf("certificates after saving = %d, want %d", len(got.Certificates), tc.want)
			}
			kept := false
			for _, der := range got.Certificates {
				kept = kept || bytes.Equal(der, before.Certificates[0])
			}
			if kept != (tc.keep != "") {
				t.Errorf("old certificate trusted = %v, want %v", kept, tc.keep != "")
			}
		})
	}
}

func TestResendShownOnlyWhenWaiting(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	tenant, contact := env.tenantWithToken("resend-co")
	c := env.client()
	c.signIn("rita@gatehouse.example", env.addStaff("rita@gatehouse.example", forms.RoleReviewer))
	if _, err := env.srv.workflow().IssueToken(t.Context(), forms.Actor{Name: "staff:test"}, tenant.ID); err != nil {
		t.Fatal(err)
	}

	const button = `action="/staff/tenants/resend-co/tokens/resend"`
	if page := c.get("/staff/tenants/resend-co"); !strings.Contains(page.Body, button) {
		t.Error("the re-send button is missing while a link waits to be revealed")
	}
	env.revealLatest(contact.Email)
	page := c.get("/staff/tenants/resend-co")
	if strings.Contains(page.Body, button) {
		t.Error("the re-send button is shown after the token was revealed")
	}
	if !strings.Contains(page.Body, "nothing to re-send") {
		t.Error("the tenant page does not say why there is no re-send button")
	}

	res := c.post("/staff/tenants/resend-co/tokens/resend", nil)
	if res.Status != http.StatusSeeOther || res.Location != "/staff/tenants/resend-co?done=nothing_to_resend#tokens" {
		t.Fatalf("re-send after reveal: status %d, location %q", res.Status, res.Location)
	}
	back := c.get(res.Location)
	if !strings.Contains(back.Body, `class="notice warn"`) || !strings.Contains(back.Body, "There is no link to re-send") {
		t.Errorf("the tenant page lacks the warning after a failed re-send:\n%s", back.Body)
	}
}

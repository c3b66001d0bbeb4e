package portal_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSetupFieldMessages(t *testing.T) {
	t.Parallel()
	okta := func(t *testing.T) string { return string(corpusFile(t, "okta-2024.xml")) }
	cases := []struct {
		name  string
		edit  func(t *testing.T, v url.Values)
		file  *upload
		field string
		want  string
	}{
		{"company missing", set("company_name", "  "), nil, "company_name", "Enter your company's name."},
		{"company too long", set("company_name", strings.Repeat("a", 201)), nil, "company_name", "at most 200 characters"},
		{"company control characters", set("company_name", "Acme\x07"), nil, "company_name", "Remove the control characters"},
		{"domains missing", set("email_domains", ""), nil, "email_domains", "Enter the email domain"},
		{"domain with address", set("email_domains", "ada@acme.example"), nil, "email_domains", "as the domain alone: acme.example"},
		{"domain with scheme", set("email_domains", "https://acme.example/"), nil, "email_domains", "without https://"},
		{"domain without dot", set("email_domains", "acme"), nil, "email_domains", "is not a valid domain name"},
		{"domain IP address", set("email_domains", "192.0.2.1"), nil, "email_domains", "is an IP address"},
		{"public mail domain", set("email_domains", "gmail.com"), nil, "email_domains", "gmail.com is a public email provider"},
		{"too many domains", set("email_domains", strings.Repeat("a.example,", 21)), nil, "email_domains", "at most 20 email domains"},
		{"product missing", del("product"), nil, "product", "Choose the product"},
		{"product unknown", set("product", "lunch"), nil, "product", "Choose Meal Program or Marketplace."},
		{"name missing", set("contact_name", ""), nil, "contact_name", "Enter your name."},
		{"email missing", set("contact_email", ""), nil, "contact_email", "Enter your work email address."},
		{"email malformed", set("contact_email", "ada at acme"), nil, "contact_email", "in the form name@example.com"},
		{"email with display name", set("contact_email", "Ada <ada@acme.example>"), nil, "contact_email", "in the form name@example.com"},
		{"email bad domain", set("contact_email", "ada@acme"), nil, "contact_email", "with a valid domain"},
		{"phone missing", set("contact_phone", ""), nil, "contact_phone", "Enter a phone number"},
		{"phone letters", set("contact_phone", "call me maybe"), nil, "contact_phone", "with digits, spaces and + ( ) - only"},
		{"phone too short", set("contact_phone", "12 34"), nil, "contact_phone", "6 to 15 digits; it has 4"},
		{"phone too long", set("contact_phone", strings.Repeat("1", 41)), nil, "contact_phone", "at most 40 characters"},
		{"slug invalid", set("tenant_slug", "Acme_Corp"), nil, "tenant_slug", "Use 2 to 63 lowercase letters"},
		{"vendor unknown", set("idp_vendor", "msn"), nil, "idp_vendor", "Choose your IdP from the list"},
		{"source missing", del("metadata_source"), nil, "metadata_source", "Choose how you will give us"},
		{"upload missing", set("metadata_source", "upload"), nil, "metadata_file", "Choose your IdP's metadata file"},
		{"upload wrong type", set("metadata_source", "upload"), &upload{"logo.png", "image/png", []byte("\x89PNG")}, "metadata_file", "logo.png is a image/png file"},
		{"upload too large", set("metadata_source", "upload"), &upload{"big.xml", "text/xml", bytes.Repeat([]byte(" "), 1<<20+1)}, "metadata_file", "but metadata may be at most"},
		{"upload empty", set("metadata_source", "upload"), &upload{"empty.xml", "text/xml", nil}, "metadata_file", "empty.xml is empty"},
		{"paste empty", set("metadata", " "), nil, "metadata", "Paste your IdP's metadata XML"},
		{"paste DOCTYPE", set("metadata", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>`), nil, "metadata", "DOCTYPE"},
		{"paste truncated", func(t *testing.T, v url.Values) { v.Set("metadata", okta(t)[:500]) }, nil, "metadata", "so it is incomplete"},
		{"url missing", set("metadata_source", "url"), nil, "metadata_url", "Enter the URL of your IdP's metadata"},
		{"url not https", edits(set("metadata_source", "url"), set("metadata_url", "http://idp.example/metadata")), nil, "metadata_url", "https"},
		{"manual entity missing", edits(set("metadata_source", "manual"), set("sso_url", "https://idp.example/sso")), nil, "entity_id", "Enter your IdP's entity ID"},
		{"manual SSO missing", edits(set("metadata_source", "manual"), set("entity_id", "https://idp.example")), nil, "sso_url", "Enter your IdP's SSO URL"},
		{"manual certificate missing", edits(set("metadata_source", "manual"), set("entity_id", "https://idp.example")), nil, "certificate", "Paste your IdP's signing certificate"},
		{"manual private key", edits(set("metadata_source", "manual"), set("certificate", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")), nil, "certificate", "contains a private key"},
		{"scim missing", del("scim"), nil, "scim", "Choose whether your IdP should create"},
		{"autoprovision without SCIM", set("scim", "no"), nil, "autoprovision", "so it needs SCIM"},
		{"notes too long", set("notes", strings.Repeat("n", 4001)), nil, "notes", "at most 4000 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newSetupEnv(t)
			values := validForm(t)
			tc.edit(t, values)

			rec := env.postMultipart("/setup", values, tc.file, "192.0.2.40")
			if rec.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", rec.Code)
			}
			body := rec.Body.String()
			got := fieldErrors(body, tc.field)
			if got == "" || !strings.Contains(got, tc.want) {
				t.Errorf("errors beside %s = %q, want one containing %q\nsummary: %s", tc.field, got, tc.want, errorSummary(body))
			}
			if !strings.Contains(body, `href="#field-`+tc.field+`"`) {
				t.Errorf("error summary has no link to #field-%s", tc.field)
			}
			if !strings.Contains(body, `id="field-`+tc.field+`"`) {
				t.Errorf("page has no element with id field-%s for the summary link", tc.field)
			}
			if !strings.Contains(body, `aria-describedby="hint-`+tc.field+` error-`+tc.field) {
				t.Errorf("field %s is not described by its error message", tc.field)
			}
			if n := env.count("setup_requests"); n != 0 {
				t.Errorf("%d requests stored, want 0", n)
			}
			if n := env.count("outbox"); n != 0 {
				t.Errorf("%d mails enqueued, want 0", n)
			}
		})
	}
}

func set(name, value string) func(*testing.T, url.Values) {
	return func(_ *testing.T, v url.Values) { v.Set(name, value) }
}

func del(name string) func(*testing.T, url.Values) {
	return func(_ *testing.T, v url.Values) { v.Del(name) }
}

func edits(list ...func(*testing.T, url.Values)) func(*testing.T, url.Values) {
	return func(t *testing.T, v url.Values) {
		for _, edit := range list {
			edit(t, v)
		}
	}
}

func TestSetupFormKeepsTypedValues(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t)
	values := validForm(t)
	values.Set("contact_phone", "not a phone")
	values.Set("company_name", `Acme "Quotes" & Sons`)
	values.Set("metadata_source", "upload")
	values.Del("metadata")
	file := &upload{Name: "okta.xml", ContentType: "application/xml", Data: corpusFile(t, "okta-2024.xml")}

	rec := env.postMultipart("/setup", values, file, "192.0.2.41")
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`value="Acme &#34;Quotes&#34; &amp; Sons"`,
		`value="not a phone"`,
		`value="ada@acme.example"`,
		`value="acme.example, acme-corp.example"`,
		`<option value="okta" selected>`,
		`id="field-scim" name="scim" value="yes" checked`,
		`id="field-require_sso" name="require_sso" checked`,
		`>Go-live in January.</textarea>`,
		`id="source-paste" name="metadata_source" value="paste" checked`,
		"We put the contents of <b>okta.xml</b> in this box",
		"http://www.okta.com/exk",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("re-rendered form lacks %q", want)
		}
	}
}

func TestSetupWarningsDoNotBlock(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t)
	values := validForm(t)
	values.Set("contact_email", "ada@consultants.example")

	env.submitValid(values, "192.0.2.42")
	r := env.onlyRequest()
	if !r.ContactOutsideDomains {
		t.Errorf("contact_outside_domains = false for an address outside the listed domains")
	}
}

func TestSetupBadBodies(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t)

	req := httptestRequest(http.MethodPost, "/setup", `{"company_name":"Acme"}`, "application/json")
	if rec := env.do(req, "192.0.2.43"); rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("JSON body: status %d, want 415", rec.Code)
	}

	values := validForm(t)
	values.Set("notes", strings.Repeat("x", 3<<20))
	if rec := env.postMultipart("/setup", values, nil, "192.0.2.43"); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: status %d, want 413", rec.Code)
	}
	if n := env.count("setup_requests"); n != 0 {
		t.Errorf("%d requests stored, want 0", n)
	}
}

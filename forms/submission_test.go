package forms

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

var submissionClock = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)

func validInput(t *testing.T) SubmissionInput {
	t.Helper()
	xml, err := os.ReadFile("testdata/idp-metadata/okta-2024.xml")
	if err != nil {
		t.Fatal(err)
	}
	return SubmissionInput{
		CompanyName: "Acme", EmailDomains: "acme.example", Product: "meal_program",
		ContactName: "Ada", ContactEmail: "ada@acme.example", ContactPhone: "+1 415 555 0100",
		MetadataSource: SourcePaste, MetadataXML: string(xml), SCIM: "yes",
	}
}

func TestCheckDomains(t *testing.T) {
	cases := []struct {
		name      string
		input     string
		want      []string
		wantError string
	}{
		{"commas and spaces", "Acme.Example, acme.co.uk\nacme.example", []string{"acme.example", "acme.co.uk"}, ""},
		{"leading at sign", "@acme.example", []string{"acme.example"}, ""},
		{"trailing dot", "acme.example.", []string{"acme.example"}, ""},
		{"internationalized name", "bücher.example", []string{"xn--bcher-kva.example"}, ""},
		{"numeric top-level label", "acme.123", nil, "is not a valid domain name"},
		{"label with underscore", "ac_me.example", nil, "is not a valid domain name"},
		{"label starting with hyphen", "-acme.example", nil, "is not a valid domain name"},
		{"public provider", "outlook.com", nil, "public email provider"},
		{"empty", " , ", nil, "Enter the email domain"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var problems problemList
			got := checkDomains(tc.input, &problems)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("domains (-want +got):\n%s", diff)
			}
			checkOneError(t, Problems(problems), tc.wantError)
		})
	}
}

func TestCheckPhone(t *testing.T) {
	cases := []struct {
		input     string
		wantError string
	}{
		{"+1 (415) 555-0100", ""},
		{"+44 20 7946 0000 ext. 12", ""},
		{"020 7946 0000 x12", ""},
		{"415.555.0100", ""},
		{"+1 415 555 0100 ext", "with digits, spaces and + ( ) - only"},
		{"555-01", "6 to 15 digits; it has 5"},
		{"+1234567890123456", "6 to 15 digits; it has 16"},
		{"1+415", "with digits, spaces and + ( ) - only"},
	}
	for _, tc := range cases {
		t.Run(tc.input, func(t *testing.T) {
			var problems problemList
			checkPhone(tc.input, &problems)
			checkOneError(t, Problems(problems), tc.wantError)
		})
	}
}

func TestCheckEmail(t *testing.T) {
	cases := []struct {
		input     string
		want      string
		wantError string
	}{
		{"Ada@ACME.Example", "Ada@acme.example", ""},
		{" ada@acme.example ", "ada@acme.example", ""},
		{"ada@bücher.example", "ada@xn--bcher-kva.example", ""},
		{"ada@gmail.com", "ada@gmail.com", ""},
		{"ada", "", "in the form name@example.com"},
		{"ada@localhost", "", "with a valid domain"},
		{strings.Repeat("a", 250) + "@acme.example", "", "at most 254 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.input, func(t *testing.T) {
			var problems problemList
			got := checkEmail(tc.input, &problems)
			if got != tc.want {
				t.Errorf("checkEmail(%q) = %q, want %q", tc.input, got, tc.want)
			}
			checkOneError(t, Problems(problems), tc.wantError)
		})
	}
}

func TestSlugFromName(t *testing.T) {
	cases := map[string]string{
		"Acme Corporation":               "acme-corporation",
		"  Café Zürich AG ":              "cafe-zurich-ag",
		"AT&T, Inc.":                     "at-t-inc",
		"東京":                             "company",
		"X":                              "company",
		strings.Repeat("long name ", 10): strings.TrimRight(strings.Repeat("long-name-", 5), "-"),
	}
	for name, want := range cases {
		if got := SlugFromName(name); got != want {
			t.Errorf("SlugFromName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestValidateSubmissionSources(t *testing.T) {
	okta := validInput(t).MetadataXML
	cert := "MIIDqjCCApKgAwIBAgIGAY8Vz4lnMA0GCSqGSIb3DQEBCwUAMIGVMQswCQYDVQQGEwJVUzETMBEG"
	cases := []struct {
		name      string
		edit      func(in *SubmissionInput)
		fetch     func(ctx context.Context, url string) ([]byte, error)
		wantField string
		wantError string
	}{
		{name: "paste", edit: func(in *SubmissionInput) {}},
		{name: "upload", edit: func(in *SubmissionInput) {
			in.MetadataSource, in.MetadataFileName, in.MetadataFileType = SourceUpload, "okta.xml", "text/xml"
		}},
		{name: "url fetched", edit: func(in *SubmissionInput) {
			in.MetadataSource, in.MetadataURL, in.MetadataXML = SourceURL, "https://idp.example/metadata", ""
		}, fetch: func(context.Context, string) ([]byte, error) { return []byte(okta), nil }},
		{name: "url fetch failed", edit: func(in *SubmissionInput) {
			in.MetadataSource, in.MetadataURL = SourceURL, "https://idp.example/metadata"
		}, fetch: func(context.Context, string) ([]byte, error) {
			return nil, &FetchError{Message: "The server at idp.example did not answer in time."}
		}, wantField: FieldMetadataURL, wantError: "did not answer in time"},
		{name: "url document invalid", edit: func(in *SubmissionInput) {
			in.MetadataSource, in.MetadataURL = SourceURL, "https://idp.example/metadata"
		}, fetch: func(context.Context, string) ([]byte, error) { return []byte("<html></html>"), nil },
			wantField: FieldMetadataURL},
		{name: "manual with bad certificate", edit: func(in *SubmissionInput) {
			in.MetadataSource, in.EntityID, in.SSOURL, in.Certificate = SourceManual, "https://idp.example", "https://idp.example/sso", cert
		}, wantField: FieldCertificate},
		{name: "upload that is not text", edit: func(in *SubmissionInput) {
			in.MetadataSource, in.MetadataFileName, in.MetadataXML = SourceUpload, "x.xml", "\xff\x00\xfe"
		}, wantField: FieldMetadataFile, wantError: "not UTF-8 text"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := validInput(t)
			tc.edit(&in)
			sub, problems := ValidateSubmission(context.Background(), in, SubmissionOptions{Now: submissionClock, Fetch: tc.fetch})
			if tc.wantField == "" {
				if problems.HasErrors() {
					t.Fatalf("unexpected errors: %+v", problems.Errors())
				}
				if sub.Report.Metadata == nil || sub.MetadataXML == "" {
					t.Errorf("submission lacks the metadata")
				}
				return
			}
			errs := problems.Field(tc.wantField).Errors()
			if len(errs) == 0 {
				t.Fatalf("no error on %s; problems: %+v", tc.wantField, problems)
			}
			if !strings.Contains(errs[0].Message, tc.wantError) {
				t.Errorf("error on %s = %q, want it to contain %q", tc.wantField, errs[0].Message, tc.wantError)
			}
		})
	}
}

func TestProblemsFollowFormOrder(t *testing.T) {
	in := SubmissionInput{}
	_, problems := ValidateSubmission(context.Background(), in, SubmissionOptions{Now: submissionClock})
	var fields []string
	for _, p := range problems {
		if len(fields) == 0 || fields[len(fields)-1] != p.Field {
			fields = append(fields, p.Field)
		}
	}
	want := []string{FieldCompanyName, FieldEmailDomains, FieldProduct, FieldContactName, FieldContactEmail,
		FieldContactPhone, FieldMetadataSource, FieldSCIM}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("fields with problems (-want +got):\n%s", diff)
	}
}

func TestContactOutsideDomains(t *testing.T) {
	cases := []struct {
		email string
		want  bool
	}{
		{"ada@acme.example", false},
		{"ada@it.acme.example", false},
		{"ada@notacme.example", true},
		{"ada@gmail.com", true},
	}
	for _, tc := range cases {
		in := validInput(t)
		in.ContactEmail = tc.email
		sub, problems := ValidateSubmission(context.Background(), in, SubmissionOptions{Now: submissionClock})
		if problems.HasErrors() {
			t.Fatalf("%s: errors %+v", tc.email, problems.Errors())
		}
		if sub.ContactOutsideDomains != tc.want {
			t.Errorf("%s: outside domains = %v, want %v", tc.email, sub.ContactOutsideDomains, tc.want)
		}
		if got := len(problems.Field(FieldContactEmail).Warnings()) > 0; got != tc.want {
			t.Errorf("%s: warning shown = %v, want %v", tc.email, got, tc.want)
		}
	}
}

func TestGuessIdPVendor(t *testing.T) {
	cases := map[string]string{
		"http://www.okta.com/exkdoocxa1VmjpXmX697":      "okta",
		"https://sts.windows.net/0a1b2c3d/":             "entra",
		"https://accounts.google.com/o/saml2?idpid=C01": "google",
		"https://app.onelogin.com/saml/metadata/123":    "onelogin",
		"IdP Entity ID": "jumpcloud",
		"http://sts.ucar.edu/adfs/services/trust": "adfs",
		"https://auth.pingone.com/0a1b/":          "ping",
		"http://localhost:8080/realms/master":     "keycloak",
		"urn:dev-abc.us.auth0.com":                "",
	}
	for id, want := range cases {
		if got := GuessIdPVendor(id); got != want {
			t.Errorf("GuessIdPVendor(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestCreateRejectsTakenSlug(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := tenants.NewStore(db).Create(ctx, tenants.Tenant{Slug: "acme", Name: "Acme", Product: tenants.MealProgram}); err != nil {
		t.Fatal(err)
	}
	in := validInput(t)
	in.TenantSlug = "acme"
	sub, problems := ValidateSubmission(ctx, in, SubmissionOptions{Now: submissionClock})
	if problems.HasErrors() {
		t.Fatal(problems.Errors())
	}

	_, err := NewStore(db).Create(ctx, sub, testLinks, submissionClock)
	var taken *SlugTakenError
	if !errors.As(err, &taken) || taken.Suggestion != "acme-2" {
		t.Fatalf("Create with a taken slug: %v, want SlugTakenError suggesting acme-2", err)
	}
	var n int
	db.Get(&n, `SELECT count(*) FROM setup_requests`)
	if n != 0 {
		t.Errorf("%d requests stored, want 0", n)
	}
}

func checkOneError(t *testing.T, problems Problems, want string) {
	t.Helper()
	errs := problems.Errors()
	if want == "" {
		if len(errs) > 0 {
			t.Errorf("unexpected errors: %+v", errs)
		}
		return
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Message, want) {
		t.Errorf("errors = %+v, want one containing %q", errs, want)
	}
}

var testLinks = ContactLinks{
	VerifyURL: func(s secrets.LinkSecret) string { return "https://gatehouse.example/setup/verify/" + s.Reveal() },
	StatusURL: func(s secrets.LinkSecret) string { return "https://gatehouse.example/setup/status/" + s.Reveal() },
}

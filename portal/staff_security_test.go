package portal

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// TestOutboxHidesBodiesWithSMTP checks that, when mail goes out over SMTP,
// the outbox does not show message bodies. Otherwise a reviewer could ask
// for an admin's password reset on the public reset page, read the link
// in the outbox, set the admin's password and sign in as the admin. Token
// reveal links would leak the same way. Without SMTP the outbox is how
// staff read mail, so there it still shows bodies.
func TestOutboxHidesBodiesWithSMTP(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		devMail  bool
		wantLink bool
	}{
		{name: "with SMTP", devMail: false, wantLink: false},
		{name: "without SMTP", devMail: true, wantLink: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newStaffEnv(t)
			env.srv.cfg.DevMail = tt.devMail
			env.addStaff("adam@gatehouse.example", forms.RoleAdmin)
			reviewerPassword := env.addStaff("rita@gatehouse.example", forms.RoleReviewer)
			reviewer := env.client()
			reviewer.signIn("rita@gatehouse.example", reviewerPassword)

			env.client().post("/staff/reset", url.Values{"email": {"adam@gatehouse.example"}})
			var id string
			if err := env.db.GetContext(t.Context(), &id, `SELECT id FROM outbox WHERE to_address = 'adam@gatehouse.example' AND kind = 'staff_password'`); err != nil {
				t.Fatalf("find the reset mail: %v", err)
			}

			page := reviewer.get("/staff/outbox/" + id)
			if page.Status != http.StatusOK {
				t.Fatalf("outbox message: status %d, want 200", page.Status)
			}
			if got := strings.Contains(page.Body, "/staff/password/"); got != tt.wantLink {
				t.Errorf("page shows the password link: %v, want %v", got, tt.wantLink)
			}
		})
	}
}

// TestAuditPageShowsTenantEvents checks that the audit page renders events
// that name a tenant, with a link to the tenant.
func TestAuditPageShowsTenantEvents(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	password := env.addStaff("adam@gatehouse.example", forms.RoleAdmin)
	c := env.client()
	c.signIn("adam@gatehouse.example", password)
	if _, err := tenants.NewStore(env.db).Create(t.Context(), tenants.Tenant{Slug: "acme", Name: "Acme", Product: tenants.MealProgram}); err != nil {
		t.Fatal(err)
	}
	c.post("/staff/tenants/acme/drop-locations", url.Values{"name": {"Lobby"}})

	page := c.get("/staff/audit")
	if page.Status != http.StatusOK {
		t.Fatalf("audit page: status %d, want 200", page.Status)
	}
	if !strings.Contains(page.Body, `<a href="/staff/tenants/acme">acme</a>`) {
		t.Errorf("audit page has no link to the tenant:\n%s", page.Body)
	}
}

// TestUnstorableTextIsClientError checks that a null character or invalid
// UTF-8 in a form field or query, which PostgreSQL cannot store or
// compare, gets a 400 page instead of a 500, on public and staff pages.
func TestUnstorableTextIsClientError(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	password := env.addStaff("adam@gatehouse.example", forms.RoleAdmin)
	staff := env.client()
	staff.signIn("adam@gatehouse.example", password)
	if _, err := tenants.NewStore(env.db).Create(t.Context(), tenants.Tenant{Slug: "acme", Name: "Acme", Product: tenants.MealProgram}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		client *staffClient
		method string
		path   string
		form   url.Values
	}{
		{"staff sign-in email", env.client(), "POST", "/staff/signin", url.Values{"email": {"a\x00@example.com"}, "password": {"x"}}},
		{"staff reset email", env.client(), "POST", "/staff/reset", url.Values{"email": {"a\x00@example.com"}}},
		{"user sign-in email", env.client(), "POST", "/login", url.Values{"email": {"a\x00@example.com"}, "password": {"x"}}},
		{"queue search", staff, "GET", "/staff?q=a%00", nil},
		{"queue search invalid UTF-8", staff, "GET", "/staff?state=all&q=a%FF", nil},
		{"drop location name", staff, "POST", "/staff/tenants/acme/drop-locations", url.Values{"name": {"a\x00"}}},
		{"contact name", staff, "POST", "/staff/tenants/acme/contact", url.Values{"contact_name": {"a\xff"}, "contact_email": {"it@acme.example"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res staffResponse
			if tt.method == "GET" {
				res = tt.client.get(tt.path)
			} else {
				res = tt.client.post(tt.path, tt.form)
			}
			if res.Status != http.StatusBadRequest {
				t.Errorf("%s %s: status %d, want 400", tt.method, tt.path, res.Status)
			}
		})
	}
	if logged := regexp.MustCompile(`level=ERROR`).FindAllString(env.logs.String(), -1); len(logged) > 0 {
		t.Errorf("logged %d errors:\n%s", len(logged), env.logs.String())
	}
}

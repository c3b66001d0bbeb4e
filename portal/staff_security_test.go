package portal

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

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

package portal

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/forms"
)

// TestQueueRendersFastWithManyRequests checks the target of rendering a
// queue page in under 50 ms of server time with 10,000 requests stored.
// Each page is measured five times and the fastest counts, so one
// scheduling hiccup on a busy test machine does not fail the test.
func TestQueueRendersFastWithManyRequests(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	c := env.client()
	c.signIn("ana@gatehouse.example", env.addStaff("ana@gatehouse.example", forms.RoleReviewer))
	_, err := env.db.ExecContext(t.Context(), `
		INSERT INTO setup_requests (reference, state, company_name, email_domains, product, contact_name, contact_email,
		    idp_entity_id, sso_url, sso_binding, certificates, scim_requested, require_sso, autoprovision,
		    status_hash, tenant_slug, status_expires_at, verified_at, submitted_at, created_at)
		SELECT 'GH-' || lpad(n::text, 8, '0'),
		       (ARRAY['submitted', 'in_review', 'changes_requested', 'approved', 'rejected'])[1 + n % 5],
		       'Company ' || n, ARRAY['company' || n || '.example'], (ARRAY['meal_program', 'marketplace'])[1 + n % 2],
		       'Contact ' || n, 'it' || n || '@company' || n || '.example', 'https://idp' || n || '.example', 'https://idp.example/sso',
		       'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', '{}', n % 2 = 0, false, false,
		       sha256(n::text::bytea), 'company-' || n, now() + interval '30 days', now(),
		       now() - make_interval(mins => n), now() - make_interval(mins => n)
		FROM generate_series(1, 10000) AS n`)
	if err != nil {
		t.Fatal(err)
	}
	env.db.ExecContext(t.Context(), `ANALYZE setup_requests`)

	for _, path := range []string{
		"/staff", "/staff?state=all&page=150", "/staff?q=company77", "/staff?q=company4242.example",
		"/staff?q=GH-0000", "/staff?state=approved&product=marketplace&sort=newest",
	} {
		best := time.Hour
		for range 5 {
			start := time.Now()
			res := c.get(path)
			if res.Status != http.StatusOK {
				t.Fatalf("GET %s: status %d", path, res.Status)
			}
			best = min(best, time.Since(start))
		}
		t.Logf("GET %s: %v at best", path, best)
		if best > 50*time.Millisecond {
			t.Errorf("GET %s took %v at best, want under 50ms", path, best)
		}
	}
}

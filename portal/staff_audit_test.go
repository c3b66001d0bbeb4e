package portal

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/forms"
)

// TestStaffActionsAudited runs every staff and token action over HTTP, in
// order, and checks that each writes exactly one audit row of its kind,
// with the actor and client address.
func TestStaffActionsAudited(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	env.srv.cfg.DevMail = false // mail can be retried only where a delivery worker sends it
	adminPassword := env.addStaff("adam@gatehouse.example", forms.RoleAdmin)
	env.addStaff("rita@gatehouse.example", forms.RoleReviewer)
	c := env.client()
	c.signIn("adam@gatehouse.example", adminPassword)
	scim := env.seedRequest(seedOptions{Company: "Audit Foods", SCIM: true})
	changes := env.seedRequest(seedOptions{Company: "Change Co"})
	rejected := env.seedRequest(seedOptions{Company: "Reject Co"})
	market := env.seedRequest(seedOptions{Company: "Market Co", Product: "marketplace"})
	tenantPath := "/staff/tenants/" + scim.TenantSlug
	rita := env.staffID("rita@gatehouse.example")

	decide := func(r forms.Request, action, note string) staffResponse {
		path := "/staff/requests/" + r.ID + "/decide"
		page := c.get("/staff/requests/" + r.ID)
		return c.post(path, url.Values{"version": {versionIn(t, page.Body, path)}, "action": {action}, "note": {note}})
	}
	tests := []struct {
		action string
		do     func() staffResponse
	}{
		{"request.claim", func() staffResponse {
			return c.post("/staff/requests/"+changes.ID+"/claim", url.Values{"version": {"1"}})
		}},
		{"request.request_changes", func() staffResponse { return decide(changes, "request_changes", "Add SCIM") }},
		{"request.reject", func() staffResponse { return decide(rejected, "reject", "Duplicate") }},
		{"request.meeting", func() staffResponse {
			path := "/staff/requests/" + market.ID + "/meeting"
			page := c.get("/staff/requests/" + market.ID)
			return c.post(path, url.Values{"version": {versionIn(t, page.Body, path)}, "meeting_on": {"2026-01-05"}, "meeting_note": {"Scope agreed"}})
		}},
		{"request.approve", func() staffResponse { return decide(scim, "approve", "") }},
		{"token.reveal", func() staffResponse { return env.client().post(env.mailLink(scim.ContactEmail, "/token/"), nil) }},
		{"tenant.settings", func() staffResponse {
			page := c.get(tenantPath)
			updated := regexpFind(t, page.Body, `name="updated_at" value="([^"]+)"`)
			return c.post(tenantPath+"/settings", url.Values{"updated_at": {updated}, "scim": {"on"}, "idp_initiated": {"on"}})
		}},
		{"tenant.contact", func() staffResponse {
			return c.post(tenantPath+"/contact", url.Values{"contact_name": {"Ana"}, "contact_email": {"ana@acme.example"}})
		}},
		{"tenant.drop_location_add", func() staffResponse { return c.post(tenantPath+"/drop-locations", url.Values{"name": {"Lobby"}}) }},
		{"tenant.drop_location_remove", func() staffResponse {
			return c.post(tenantPath+"/drop-locations/"+env.firstID("drop_locations")+"/remove", nil)
		}},
		{"token.issue", func() staffResponse { return c.post(tenantPath+"/tokens/issue", nil) }},
		{"token.resend", func() staffResponse { return c.post(tenantPath+"/tokens/resend", nil) }},
		{"token.rotate", func() staffResponse { return c.post(tenantPath+"/tokens/rotate", nil) }},
		{"token.revoke", func() staffResponse { return c.post(tenantPath+"/tokens/"+env.firstID("scim_tokens")+"/revoke", nil) }},
		{"staff.invite", func() staffResponse {
			return c.post("/staff/people", url.Values{"email": {"nia@gatehouse.example"}, "name": {"Nia"}, "role": {"reviewer"}})
		}},
		{"staff.role", func() staffResponse { return c.post("/staff/people/"+rita+"/role", url.Values{"role": {"admin"}}) }},
		{"staff.disable", func() staffResponse { return c.post("/staff/people/"+rita+"/disable", nil) }},
		{"staff.enable", func() staffResponse { return c.post("/staff/people/"+rita+"/enable", nil) }},
		{"mail.retry", func() staffResponse {
			env.db.ExecContext(t.Context(), `UPDATE outbox SET attempts = 1, last_error = 'connection refused' WHERE id = 1`)
			return c.post("/staff/outbox/1/retry", nil)
		}},
		{"staff.password_reset", func() staffResponse {
			return env.client().post("/staff/reset", url.Values{"email": {"rita@gatehouse.example"}})
		}},
		{"staff.signout", func() staffResponse { return c.post("/staff/signout", nil) }},
		{"staff.signin", func() staffResponse {
			return c.post("/staff/signin", url.Values{"email": {"adam@gatehouse.example"}, "password": {adminPassword}})
		}},
		{"staff.signout_all", func() staffResponse { return c.post("/staff/account/signout-all", nil) }},
	}
	var setupID int64
	env.db.GetContext(t.Context(), &setupID, `SELECT max(id) FROM audit_log`)
	for _, tt := range tests {
		before := env.auditCount(tt.action)
		res := tt.do()
		if res.Status >= 400 {
			t.Errorf("%s: status %d: %s", tt.action, res.Status, firstLine(res.Body))
			continue
		}
		if got := env.auditCount(tt.action) - before; got != 1 {
			t.Errorf("%s: %d new audit rows, want 1", tt.action, got)
		}
	}

	var blank int
	env.db.GetContext(t.Context(), &blank, `SELECT count(*) FROM audit_log WHERE id > $1 AND (actor = '' OR client_ip = '')`, setupID)
	if blank != 0 {
		var rows []string
		env.db.SelectContext(t.Context(), &rows, `SELECT action || ' by ' || actor FROM audit_log WHERE id > $1 AND (actor = '' OR client_ip = '')`, setupID)
		t.Errorf("%d audit rows lack an actor or client address: %v", blank, rows)
	}
}

func (env *staffEnv) staffID(email string) string {
	env.t.Helper()
	var id string
	if err := env.db.GetContext(env.t.Context(), &id, `SELECT id FROM staff WHERE email = $1`, email); err != nil {
		env.t.Fatal(err)
	}
	return id
}

// firstID returns the oldest row's ID of a table with created_at.
func (env *staffEnv) firstID(table string) string {
	env.t.Helper()
	var id string
	if err := env.db.GetContext(env.t.Context(), &id, `SELECT id FROM `+table+` ORDER BY created_at LIMIT 1`); err != nil {
		env.t.Fatalf("first row of %s: %v", table, err)
	}
	return id
}

func regexpFind(t *testing.T, body, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no match for %s", pattern)
	}
	return m[1]
}

func firstLine(s string) string {
	if i := strings.Index(s, "role=\"alert\""); i >= 0 {
		s = s[i:]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

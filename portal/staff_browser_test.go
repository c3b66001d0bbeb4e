package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// TestStaffJourneyInBrowser walks a new admin through setting a password,
// signing in, working the queue, approving a request with SCIM, and the
// contact revealing the token, in headless Chromium.
func TestStaffJourneyInBrowser(t *testing.T) {
	t.Parallel()
	browser := NewBrowser(t, "staff")
	ctx, shot := browser.Context(), browser.Shot
	env := newStaffEnv(t)

	_, link, err := forms.NewStaffStore(env.db).Add(t.Context(), "ada@gatehouse.example", "Ada Lovelace", forms.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	r := env.seedRequest(seedOptions{Company: "Globex Foods", SCIM: true})
	env.seedRequest(seedOptions{Company: "Initech", Product: "marketplace"})
	old := env.seedRequest(seedOptions{Company: "Umbrella Labs"})
	env.db.ExecContext(t.Context(), `UPDATE setup_requests SET submitted_at = now() - interval '9 days' WHERE id = $1`, old.ID)
	env.db.ExecContext(t.Context(), `UPDATE setup_requests SET submitted_at = now() - interval '3 days' WHERE id = $1`, r.ID)

	password := "a long staff passphrase"
	var prefilled, queue, request, approved string
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.web.URL+"/staff/password/"+link.Reveal()),
		chromedp.WaitVisible(chromedp.CSS(`#password`)),
		shot("set-password"),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.SendKeys(chromedp.CSS(`#confirm`), password),
		chromedp.Submit(chromedp.CSS(`#password`)),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		into(&prefilled, chromedp.Value(chromedp.CSS(`#email`))),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		shot("sign-in"),
		chromedp.Submit(chromedp.CSS(`#email`)),
		chromedp.WaitVisible(chromedp.CSS(`table.queue`)),
		into(&queue, chromedp.Text(chromedp.CSS(`main`))),
		shot("queue"),
		chromedp.Click(chromedp.CSS(`a[href="/staff/requests/`+r.ID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#decide`)),
		into(&request, chromedp.Text(chromedp.CSS(`main`))),
		shot("request"),
		chromedp.Click(chromedp.CSS(`input[name=action][value=approve]`)),
		chromedp.SendKeys(chromedp.CSS(`#note`), "Welcome to the Meal Program."),
		chromedp.Submit(chromedp.CSS(`#note`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice.ok`)),
		into(&approved, chromedp.Text(chromedp.CSS(`main`))),
		shot("approved"),
	)
	if err != nil {
		t.Fatalf("staff journey: %v (sign-in email field read %q)", err, prefilled)
	}
	if prefilled != "ada@gatehouse.example" {
		t.Errorf("sign-in email after setting the password = %q, want ada@gatehouse.example", prefilled)
	}
	for _, want := range []string{"Globex Foods", "Umbrella Labs", "Initech", "business days"} {
		if !strings.Contains(queue, want) {
			t.Errorf("the queue does not show %q", want)
		}
	}
	if !strings.Contains(request, "idp.acme.example") || !strings.Contains(request, "Expires in") {
		t.Error("the request page does not show the parsed certificate and its expiry")
	}
	if !strings.Contains(approved, "Approved. The tenant is active") {
		t.Errorf("after approval the page says: %.200s", approved)
	}

	var tenantPage, outbox, revealed string
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.web.URL+"/staff/tenants/"+r.TenantSlug),
		chromedp.WaitVisible(chromedp.CSS(`#tokens`)),
		into(&tenantPage, chromedp.Text(chromedp.CSS(`main`))),
		shot("tenant"),
		chromedp.Navigate(env.web.URL+"/staff/outbox"),
		chromedp.WaitVisible(chromedp.CSS(`table`)),
		into(&outbox, chromedp.Text(chromedp.CSS(`main`))),
		shot("outbox"),
		chromedp.Navigate(env.mailLink(r.ContactEmail, "/token/")),
		chromedp.WaitVisible(chromedp.CSS(`button.primary`)),
		shot("reveal-confirm"),
		chromedp.Click(chromedp.CSS(`button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		into(&revealed, chromedp.Text(chromedp.CSS(`#token`))),
		shot("revealed"),
		chromedp.Navigate(env.web.URL+"/staff/people"),
		chromedp.WaitVisible(chromedp.CSS(`table`)),
		shot("people"),
	)
	if err != nil {
		t.Fatalf("tenant and reveal: %v", err)
	}
	if !strings.Contains(tenantPage, "active") || !strings.Contains(outbox, "Globex Foods") {
		t.Error("the tenant page lacks its active token or the outbox lacks the mail")
	}
	revealed = strings.TrimSpace(revealed)
	if !secrets.LooksLikeToken(revealed) {
		t.Fatalf("the reveal page shows %q, not a token", revealed)
	}
	env.assertAuthenticates(revealed, true, "revealed token")
	assertNoPlaintext(t, env, revealed)
	t.Logf("screenshots in %s", browser.Dir())
}

// TestStaffPagesFitPhone fills every staff page that has a table with
// long company names and addresses, a failed mail with its error and a
// busy audit trail. It checks in headless Chromium that each page reads at
// phone width without sideways scrolling, and saves each page at desktop
// and phone width.
func TestStaffPagesFitPhone(t *testing.T) {
	t.Parallel()
	browser := NewBrowser(t, "staff-tables")
	env := newStaffEnv(t)
	env.srv.cfg.DevMail = false // the outbox offers retries only where a delivery worker sends mail
	pages, password := env.seedBusyStaffPages()

	err := chromedp.Do(browser.Context(),
		chromedp.Navigate(env.web.URL+"/staff/signin"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), "adam.administrator@gatehouse.example"),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Submit(chromedp.CSS(`#email`)),
		chromedp.WaitVisible(chromedp.CSS(`table.queue`)),
	)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	for _, p := range pages {
		var scrolls []string
		err := chromedp.Do(browser.Context(),
			chromedp.Navigate(env.web.URL+p.path),
			chromedp.WaitVisible(chromedp.CSS(p.waitFor)),
			browser.Shot(p.name),
			into(&scrolls, browser.SidewaysScroll(Phone)),
		)
		if err != nil {
			t.Fatalf("%s: %v", p.path, err)
		}
		if len(scrolls) > 0 {
			t.Errorf("%s at %d px scrolls sideways: %v", p.path, Phone.Width, scrolls)
		}
	}
	t.Logf("screenshots in %s", browser.Dir())
}

// staffPage is a staff page that a browser test visits.
type staffPage struct {
	name    string // the screenshots' name
	path    string
	waitFor string // a CSS selector that matches once the page shows what the test looks at
}

// seedBusyStaffPages fills the queue, a tenant, the outbox and the audit
// trail, mostly through the staff pages, and returns the pages to visit
// and the password of the admin adam.administrator@gatehouse.example.
func (env *staffEnv) seedBusyStaffPages() ([]staffPage, string) {
	t := env.t
	t.Helper()
	password := env.addStaff("adam.administrator@gatehouse.example", forms.RoleAdmin)
	env.addStaff("rita.reviewer-with-a-long-name@gatehouse.example", forms.RoleReviewer)
	c := env.client()
	c.signIn("adam.administrator@gatehouse.example", password)
	post := func(path string, form url.Values) {
		t.Helper()
		if res := c.post(path, form); res.Status != http.StatusSeeOther {
			t.Fatalf("POST %s: status %d: %s", path, res.Status, firstLine(res.Body))
		}
	}
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := env.db.ExecContext(t.Context(), query, args...); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}

	approved := env.seedRequest(seedOptions{Company: "Globex Foods International Holdings", SCIM: true})
	changes := env.seedRequest(seedOptions{Company: "Initech Regional Kitchens", Product: "marketplace"})
	env.seedRequest(seedOptions{Company: "Umbrella Laboratories and Research Campus"})
	decide := "/staff/requests/" + approved.ID + "/decide"
	page := c.get("/staff/requests/" + approved.ID)
	post(decide, url.Values{"version": {versionIn(t, page.Body, decide)}, "action": {"approve"}, "note": {"Welcome aboard."}})
	post("/staff/requests/"+changes.ID+"/claim", url.Values{"version": {"1"}})
	exec(`
		INSERT INTO request_revisions (request_id, version, request)
		SELECT id, 1, to_jsonb(r) || jsonb_build_object('sso_url', $2::text, 'idp_entity_id', $3::text) FROM setup_requests r WHERE id = $1`,
		changes.ID, "https://login.initech-regional-kitchens.example/app/initechregionalkitchens_gatehouse_1/exk1a2b3c4d5e6f7g8h9/sso/saml",
		"http://www.okta.com/exk1a2b3c4d5e6f7g8h9initechregionalkitchens")

	tenantPath := "/staff/tenants/" + approved.TenantSlug
	post(tenantPath+"/contact", url.Values{"contact_name": {"Ana Administrator"}, "contact_email": {"ana.administrator@globex-foods-international.example"}})
	post(tenantPath+"/drop-locations", url.Values{"name": {"Building A, 3rd floor kitchen"}})
	post(tenantPath+"/tokens/rotate", nil)
	exec(`
		INSERT INTO scim_request_log (tenant_id, at, method, path, status, latency_us, scim_type, detail, request_id)
		SELECT id, now(), 'PATCH', '/scim/v2/Groups/3f1c2b9e-8d7a-4c65-b0e1-2a9f8c7d6e5b', 400, 18250, 'invalidValue',
		    'The members attribute of a PATCH replace operation must be a list of objects with a value', '01JEXAMPLEREQUESTID0000000'
		FROM tenants WHERE slug = $1`, approved.TenantSlug)

	dead := env.addOutboxMail("dead", 8)
	env.addOutboxMail("pending", 2)
	exec(`UPDATE outbox SET last_error = $1, to_address = $2 WHERE id = $3`,
		"smtp: 550 5.1.1 <ana.administrator@globex-foods-international.example>: Recipient address rejected: User unknown in virtual mailbox table",
		"ana.administrator@globex-foods-international.example", dead)

	return []staffPage{
		{"queue", "/staff?state=all", "table.queue"},
		{"request", "/staff/requests/" + approved.ID, "#changes"},
		{"request-changes", "/staff/requests/" + changes.ID, "table.changes"},
		{"tenants", "/staff/tenants", "main table"},
		{"tenant", tenantPath, "table.scim-log"},
		{"outbox", "/staff/outbox", "table.outbox button"},
		{"audit", "/staff/audit", "table.audit"},
		{"people", "/staff/people", "main table select"},
	}, password
}

package portal

import (
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

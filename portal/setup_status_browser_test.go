package portal_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/portal"
)

// TestStatusPagesInBrowser opens the status page in each state whose text
// depends on the request. These are a bookmarked confirmation link after
// staff started the review, a request without SCIM, a Marketplace request,
// and an approved request before and after the token was revealed. Each
// page must read at phone width without sideways scrolling, and is saved
// at desktop and phone width.
func TestStatusPagesInBrowser(t *testing.T) {
	t.Parallel()
	b := newBrowserEnv(t)

	landing := b.confirmed(validForm(t), "192.0.2.90")
	b.staffMove(b.onlyRequest(), forms.StateInReview, "")
	b.checkStatusPage("bookmark-in-review", landing, "In review")
	search, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`window.location.search`))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	if strings.Contains(search, "done=") {
		t.Errorf("address after the confirmation still has %q, want the done parameter dropped", search)
	}

	noSCIM := validForm(t)
	noSCIM.Set("company_name", "Initech")
	noSCIM.Set("scim", "no")
	noSCIM.Del("autoprovision")
	b.checkStatusPage("no-scim", b.confirmed(noSCIM, "192.0.2.91"), "Submitted")

	market := validForm(t)
	market.Set("company_name", "Globex")
	market.Set("product", "marketplace")
	b.checkStatusPage("marketplace-submitted", b.confirmed(market, "192.0.2.92"), "Submitted")

	approved := b.request(b.requestReference("Acme Corporation"))
	b.decide(approved, forms.StateApproved, "")
	status := strings.TrimSuffix(landing, "?done=verified")
	b.checkStatusPage("approved-token-mailed", status, "Approved")

	if _, err := b.db.Exec(`UPDATE token_deliveries SET revealed_at = now(), key_id = NULL, data_key = NULL, ciphertext = NULL`); err != nil {
		t.Fatal(err)
	}
	b.checkStatusPage("approved-token-revealed", status, "Approved")
	t.Logf("screenshots in %s", b.browser.Dir())
}

// requestReference returns the reference of the company's request.
func (b *browserEnv) requestReference(company string) string {
	b.t.Helper()
	var reference string
	if err := b.db.Get(&reference, `SELECT reference FROM setup_requests WHERE company_name = $1`, company); err != nil {
		b.t.Fatalf("find the request of %s: %v", company, err)
	}
	return reference
}

// checkStatusPage opens a status page, checks its state badge and that it
// fits the phone width, and saves it.
func (b *browserEnv) checkStatusPage(name, path, state string) {
	b.t.Helper()
	b.open(path)
	b.expectText("main h1", state)
	b.screenshots("status-" + name)

	var scrolls []string
	err := chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		found, err := b.browser.SidewaysScroll(portal.Phone)(ctx, target)
		scrolls = found
		return err
	}))
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	if len(scrolls) > 0 {
		b.t.Errorf("%s at %d px scrolls sideways: %v", name, portal.Phone.Width, scrolls)
	}
}

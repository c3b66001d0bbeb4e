package portal

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/forms"
)

// TestReplaceSAMLPagesFitPhone replaces a tenant's SAML connection in
// headless Chromium: expired metadata shows its error beside the field,
// and valid metadata shows the diff. Each page is saved at desktop and
// phone width and must read at phone width without sideways scrolling.
func TestReplaceSAMLPagesFitPhone(t *testing.T) {
	t.Parallel()
	browser := NewBrowser(t, "staff-saml")
	env := newStaffEnv(t)
	tenant, _ := env.tenantWithToken("northwind-traders")
	env.connectFromFixture(tenant, "google-workspace-2023.xml")
	env.seedRequest(seedOptions{Company: "Contoso"})
	password := env.addStaff("adam.administrator@gatehouse.example", forms.RoleAdmin)

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

	steps := []struct {
		name    string
		fixture string
		waitFor string
	}{
		{"errors", "pingone-2023-expired.xml", "#error-metadata"},
		{"diff", "okta-2024.xml", "#changes"},
	}
	for _, step := range steps {
		var scrolls []string
		err := chromedp.Do(browser.Context(),
			chromedp.Navigate(env.web.URL+"/staff/tenants/northwind-traders#saml"),
			chromedp.Click(chromedp.CSS(`#replace-saml summary`)),
			chromedp.Click(chromedp.CSS(`#source-paste`)),
			chromedp.SetValue(chromedp.CSS(`#field-metadata`), string(readFixture(t, step.fixture))),
			chromedp.Submit(chromedp.CSS(`#field-metadata`)),
			chromedp.WaitVisible(chromedp.CSS(step.waitFor)),
			browser.Shot(step.name),
			into(&scrolls, browser.SidewaysScroll(Phone)),
		)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if len(scrolls) > 0 {
			t.Errorf("%s page at %d px scrolls sideways: %v", step.name, Phone.Width, scrolls)
		}
	}
	t.Logf("screenshots in %s", browser.Dir())
}

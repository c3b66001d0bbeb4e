package portal

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/crewjam/saml"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

// TestSignInInBrowser signs a new user of a require-SSO company in from
// the sign-in page, through the test IdP with the HTTP-POST binding (so
// app.js submits the AuthnRequest under the page's CSP), picks a drop
// location and reads /me, in headless Chromium. The IdP runs on another
// loopback address, so its POST to the ACS is cross-site.
func TestSignInInBrowser(t *testing.T) {
	t.Parallel()
	browser := NewBrowser(t, "signin")
	ctx, shot := browser.Context(), browser.Shot
	env := newSigninEnv(t, envOptions{
		Binding: saml.HTTPPostBinding, IdPHost: "127.0.0.2",
		Settings: tenants.Settings{RequireSSO: true},
	})
	env.addDropLocation(env.tenant, "Lobby, ground floor")
	kitchen := env.addDropLocation(env.tenant, "Kitchen, 3rd floor")
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.setUser("ada@acme.test")

	var required, picker, account, meJSON, location string
	text := func(dst *string, sel string) chromedp.Action[chromedp.Void] {
		return into(dst, chromedp.Text(chromedp.CSS(sel)))
	}

	err := chromedp.Do(ctx,
		chromedp.Navigate(env.web.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), "ada@acme.test"),
		shot("login"),
		chromedp.Submit(chromedp.CSS(`#email`)),
		chromedp.WaitVisible(chromedp.CSS(`a.button[href="/sso/acme"]`)),
		text(&required, `main`),
		shot("sso-required"),
		chromedp.Click(chromedp.CSS(`a.button[href="/sso/acme"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=drop_location]`)),
		text(&picker, `main`),
		shot("drop-location"),
		chromedp.Click(chromedp.CSS(`#drop-`+kitchen.ID)),
		chromedp.Submit(chromedp.CSS(`input[name=drop_location]`)),
		chromedp.WaitVisible(chromedp.CSS(`dl.facts`)),
		text(&account, `main`),
		shot("account"),
		chromedp.Navigate(env.web.URL+"/me"),
		text(&meJSON, `body`),
		shot("me"),
		into(&location, chromedp.Location()),
	)
	if err != nil {
		t.Fatalf("sign-in journey: %v\nlogs:\n%s", err, env.logs)
	}

	if !strings.Contains(required, "Your company requires you to use single sign on") {
		t.Errorf("SSO page text = %q", required)
	}
	if !strings.Contains(picker, "Kitchen, 3rd floor") || !strings.Contains(picker, "Lobby, ground floor") {
		t.Errorf("drop location page text = %q", picker)
	}
	if !strings.Contains(account, "Kitchen, 3rd floor") || !strings.Contains(account, "Acme Corp") {
		t.Errorf("account page text = %q", account)
	}
	var me map[string]any
	if err := json.Unmarshal([]byte(meJSON), &me); err != nil {
		t.Fatalf("/me = %q: %v", meJSON, err)
	}
	want := map[string]any{"tenant": "acme", "userName": "ada@acme.test", "email": "ada@acme.test", "dropLocation": "Kitchen, 3rd floor"}
	if diff := cmp.Diff(want, me); diff != "" {
		t.Errorf("/me (-want +got):\n%s", diff)
	}
	if location != env.web.URL+"/me" {
		t.Errorf("location = %q", location)
	}

	var refused string
	env.idp.setUser("stranger@acme.test")
	err = chromedp.Do(ctx,
		chromedp.Navigate(env.web.URL+"/sso/acme"),
		chromedp.WaitVisible(chromedp.CSS(`.notice.bad`)),
		text(&refused, `main`),
		shot("unknown-user"),
	)
	if err != nil {
		t.Fatalf("unknown user: %v", err)
	}
	if !strings.Contains(refused, "We could not find your account") {
		t.Errorf("unknown user page text = %q", refused)
	}
}

// TestEmptyPasswordSignInInBrowser signs a user of a company that offers
// but does not require SSO in from the sign-in page with an empty
// password, through an IdP with the HTTP-Redirect binding, in headless
// Chromium. The login form's CSP allows form submissions to 'self' only,
// and Chromium applies that to the redirects after a submission too.
func TestEmptyPasswordSignInInBrowser(t *testing.T) {
	t.Parallel()
	ctx := NewBrowser(t, "signin-empty-password").Context()
	env := newSigninEnv(t, envOptions{Binding: saml.HTTPRedirectBinding, IdPHost: "127.0.0.2"})
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.setUser("ada@acme.test")

	var account string
	err := chromedp.Do(ctx,
		chromedp.Navigate(env.web.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), "ada@acme.test"),
		chromedp.Submit(chromedp.CSS(`#email`)),
		chromedp.WaitVisible(chromedp.CSS(`dl.facts`)),
		into(&account, chromedp.Text(chromedp.CSS(`main`))),
	)
	if err != nil {
		t.Fatalf("sign-in with an empty password: %v\nlogs:\n%s", err, env.logs)
	}
	if !strings.Contains(account, "Acme Corp") {
		t.Errorf("account page text = %q", account)
	}
}

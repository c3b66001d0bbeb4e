package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// setupLink inserts the account set-up link that SCIM would email to an
// autoprovisioned user and returns its path.
func (env *signinEnv) setupLink(u tenants.User, expiresIn time.Duration) string {
	env.t.Helper()
	secret := secrets.NewLinkSecret()
	env.exec(`INSERT INTO password_links (link_hash, user_id, expires_at) VALUES ($1, $2, $3)`,
		secret.Hash(), u.ID, time.Now().Add(expiresIn))
	return "/account/setup/" + secret.Reveal()
}

func TestAccountSetupSetsPassword(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	user := env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	link := env.setupLink(user, time.Hour)
	b := env.newBrowser()

	form := b.get(env.web.URL + link)
	if form.Status != http.StatusOK || !strings.Contains(form.Body, `name="password"`) || !strings.Contains(form.Body, `href="/sso/acme"`) {
		t.Fatalf("set-up page = %d, want a password form and the SSO option:\n%s", form.Status, form.Body)
	}
	if got := form.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("set-up page Referrer-Policy = %q, want no-referrer, so the link secret never leaves in a Referer", got)
	}
	cases := []struct {
		name, password, confirm string
		wantStatus              int
	}{
		{"passwords differ", testPassword, testPassword + "!", http.StatusBadRequest},
		{"password too short", "short", "short", http.StatusBadRequest},
		{"good password", testPassword, testPassword, http.StatusSeeOther},
		{"link used twice", testPassword, testPassword, http.StatusNotFound},
	}
	for _, tc := range cases {
		resp := b.post(env.web.URL+link, url.Values{"password": {tc.password}, "confirm": {tc.confirm}})
		if resp.Status != tc.wantStatus {
			t.Errorf("%s: status %d, want %d", tc.name, resp.Status, tc.wantStatus)
		}
	}
	if status, me := env.me(b); status != http.StatusOK || me["userName"] != "ada@acme.test" {
		t.Errorf("/me after set-up = %d %v, want signed in", status, me)
	}
	if resp := login(env.newBrowser(), env, "ada@acme.test", testPassword); resp.Status != http.StatusSeeOther {
		t.Errorf("sign-in with the new password = %d, want 303", resp.Status)
	}
}

func TestAccountSetupRequireSSO(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{Settings: tenants.Settings{RequireSSO: true}})
	user := env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	link := env.setupLink(user, time.Hour)
	b := env.newBrowser()

	page := b.get(env.web.URL + link)
	if page.Status != http.StatusOK || strings.Contains(page.Body, `name="password"`) || !strings.Contains(page.Body, `href="/sso/acme"`) {
		t.Errorf("set-up page = %d, want only the SSO button:\n%s", page.Status, page.Body)
	}
	if resp := b.post(env.web.URL+link, url.Values{"password": {testPassword}, "confirm": {testPassword}}); resp.Status != http.StatusForbidden {
		t.Errorf("setting a password = %d, want 403", resp.Status)
	}
}

func TestAccountSetupRejectsBadLinks(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	user := env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	inactive := env.addUser(env.tenant, "eve@acme.test", "eve@acme.test")
	env.exec(`UPDATE users SET active = false WHERE id = $1`, inactive.ID)
	cases := []struct {
		name       string
		path       string
		wantStatus int
	}{
		{"expired link", env.setupLink(user, -time.Minute), http.StatusNotFound},
		{"unknown link", "/account/setup/" + secrets.NewLinkSecret().Reveal(), http.StatusNotFound},
		{"deactivated user", env.setupLink(inactive, time.Hour), http.StatusForbidden},
	}
	for _, tc := range cases {
		if resp := env.newBrowser().get(env.web.URL + tc.path); resp.Status != tc.wantStatus {
			t.Errorf("%s: status %d, want %d", tc.name, resp.Status, tc.wantStatus)
		}
	}
}

package portal

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crewjam/saml"
	"github.com/lib/pq"

	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

const testPassword = "correct horse battery staple"

// setPassword gives a user a password.
func (env *signinEnv) setPassword(u tenants.User, password string) {
	env.t.Helper()
	hash, err := secrets.HashPassword(secrets.Password(password))
	if err != nil {
		env.t.Fatal(err)
	}
	if err := env.store.SetPassword(env.t.Context(), u.TenantID, u.ID, hash); err != nil {
		env.t.Fatal(err)
	}
}

// approveDomains records an approved setup request for tenant t that lists
// the email domains.
func (env *signinEnv) approveDomains(t tenants.Tenant, domains ...string) {
	env.t.Helper()
	env.exec(`
		INSERT INTO setup_requests (reference, state, company_name, email_domains, product, contact_name, contact_email,
		    idp_entity_id, sso_url, sso_binding, certificates, scim_requested, require_sso, autoprovision,
		    tenant_slug, tenant_id)
		VALUES ($1, 'approved', $2, $3, 'meal_program', 'Ida', 'ida@'||$4, 'https://idp.example', 'https://idp.example/sso',
		    'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', '{}', false, true, false, $5, $6)`,
		"GH-"+t.Slug, t.Name, pq.StringArray(domains), domains[0], t.Slug, t.ID)
}

func login(b *browser, env *signinEnv, email, password string) testPage {
	return b.post(env.web.URL+"/login", url.Values{"email": {email}, "password": {password}})
}

func TestLoginRequireSSO(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{Settings: tenants.Settings{RequireSSO: true}})
	user := env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.setPassword(user, testPassword)
	env.approveDomains(env.tenant, "acme.test")
	b := env.newBrowser()

	cases := []struct {
		name, email, password string
	}{
		{"known user without password", "ada@acme.test", ""},
		{"known user with the right password", "ADA@acme.test", testPassword},
		{"unknown user of the company's domain", "new.hire@acme.test", "whatever it is"},
	}
	for _, tc := range cases {
		resp := login(b, env, tc.email, tc.password)
		if resp.Status != http.StatusSeeOther || resp.Location != "/sso/acme?reason=required" {
			t.Errorf("%s: /login = %d %q, want 303 /sso/acme?reason=required", tc.name, resp.Status, resp.Location)
		}
	}
	if status, _ := env.me(b); status != http.StatusUnauthorized {
		t.Errorf("a password signed in a user whose company requires SSO")
	}

	page := b.get(env.web.URL + "/sso/acme?reason=required")
	if page.Status != http.StatusOK || !strings.Contains(page.Body, "Your company requires you to use single sign on") {
		t.Fatalf("SSO page = %d, want the require-SSO message:\n%s", page.Status, page.Body)
	}
	if !strings.Contains(page.Body, `href="/sso/acme"`) {
		t.Errorf("SSO page has no Continue link to /sso/acme:\n%s", page.Body)
	}
	env.idp.setUser("ada@acme.test")
	if acs := env.signInSPInitiated(b, "acme"); acs.Status != http.StatusSeeOther {
		t.Errorf("Continue to SSO then ACS = %d, want 303", acs.Status)
	}
}

func TestLoginChoosesAmongSSOCompanies(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{Settings: tenants.Settings{RequireSSO: true}})
	market := env.createTenant("acme-market", "Acme Corp", tenants.Settings{RequireSSO: true})
	env.approveDomains(env.tenant, "acme.test")
	env.approveDomains(market, "acme.test")

	resp := login(env.newBrowser(), env, "ada@acme.test", "")
	if resp.Status != http.StatusOK || !strings.Contains(resp.Body, `href="/sso/acme"`) || !strings.Contains(resp.Body, `href="/sso/acme-market"`) {
		t.Errorf("/login = %d, want a choice of both companies:\n%s", resp.Status, resp.Body)
	}
}

func TestLoginNotHijackedByOtherTenant(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	bob := env.addUser(env.tenant, "bob@beta.example", "bob@beta.example")
	env.setPassword(bob, testPassword)
	other := env.createTenant("mallory", "Mallory Inc", tenants.Settings{RequireSSO: true})
	env.addUser(other, "bob@beta.example", "bob@beta.example")
	b := env.newBrowser()

	resp := login(b, env, "bob@beta.example", testPassword)
	if resp.Status != http.StatusSeeOther || resp.Location != "/account" {
		t.Fatalf("/login = %d %q, want 303 /account in Bob's own tenant, not another tenant's SSO", resp.Status, resp.Location)
	}
	if status, me := env.me(b); status != http.StatusOK || me["tenant"] != "acme" {
		t.Errorf("/me = %d %v, want tenant acme", status, me)
	}
}

// TestLoginNotCrowdedOut checks that a tenant cannot hide a user's own
// account from the password sign-in by provisioning many accounts with
// the user's email: only a few accounts per tenant are considered.
func TestLoginNotCrowdedOut(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	bob := env.addUser(env.tenant, "bob@beta.example", "bob@beta.example")
	env.setPassword(bob, testPassword)
	crowd := env.createTenant("aardvark", "Aardvark Ltd", tenants.Settings{RequireSSO: true})
	for i := range maxCandidates + 1 {
		env.addUser(crowd, fmt.Sprintf("bob-%d", i), "bob@beta.example")
	}
	b := env.newBrowser()

	resp := login(b, env, "bob@beta.example", testPassword)
	if resp.Status != http.StatusSeeOther || resp.Location != "/account" {
		t.Fatalf("/login = %d %q, want 303 /account in Bob's own tenant", resp.Status, resp.Location)
	}
	if status, me := env.me(b); status != http.StatusOK || me["tenant"] != "acme" {
		t.Errorf("/me = %d %v, want tenant acme", status, me)
	}
	if resp := login(env.newBrowser(), env, "bob@beta.example", ""); !strings.Contains(resp.Body, `href="/sso/acme"`) {
		t.Errorf("empty password: /login = %d %q, want a choice that includes Acme:\n%s", resp.Status, resp.Location, resp.Body)
	}
}

func TestLoginWithPassword(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	user := env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.setPassword(user, testPassword)
	b := env.newBrowser()

	if resp := login(b, env, "ada@acme.test", "wrong password entirely"); resp.Status != http.StatusUnauthorized {
		t.Errorf("wrong password: /login = %d, want 401", resp.Status)
	}
	if resp := login(b, env, "nobody@acme.test", testPassword); resp.Status != http.StatusUnauthorized {
		t.Errorf("unknown email: /login = %d, want 401", resp.Status)
	}
	resp := login(b, env, " Ada@Acme.test ", testPassword)
	if resp.Status != http.StatusSeeOther || resp.Location != "/account" {
		t.Fatalf("right password: /login = %d %q, want 303 /account", resp.Status, resp.Location)
	}
	if status, me := env.me(b); status != http.StatusOK || me["tenant"] != "acme" {
		t.Errorf("/me = %d %v", status, me)
	}

	env.exec(`UPDATE users SET active = false WHERE id = $1`, user.ID)
	if resp := login(env.newBrowser(), env, "ada@acme.test", testPassword); resp.Status != http.StatusForbidden {
		t.Errorf("deactivated user: /login = %d, want 403", resp.Status)
	}
}

// TestLoginEmptyPasswordGoesToSSO checks that an empty password starts
// single sign on with a form that the page's CSP lets the browser submit
// to the IdP. A 303 to /sso would not do: browsers apply the login form's
// form-action 'self' to the redirects that follow its submission, so the
// redirect on to the IdP would be blocked.
func TestLoginEmptyPasswordGoesToSSO(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.setUser("ada@acme.test")
	b := env.newBrowser()

	resp := b.post(env.web.URL+"/login", url.Values{"email": {"ada@acme.test"}, "password": {""}, "next": {"/account?tab=2"}})
	if resp.Status != http.StatusOK {
		t.Fatalf("/login = %d %q, want 200 with a form to the IdP", resp.Status, resp.Location)
	}
	method, action, fields := formIn(t, resp.Body)
	if method != http.MethodGet || action != env.idp.ssoURL() || fields.Get("SAMLRequest") == "" {
		t.Errorf("form = %s %s %v, want GET %s with a SAMLRequest", method, action, fields, env.idp.ssoURL())
	}
	if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "form-action 'self' "+env.idp.srv.URL) {
		t.Errorf("CSP = %q, want form-action to allow %s", got, env.idp.srv.URL)
	}
	idpPage := b.get(action + "?" + fields.Encode())
	_, acsURL, acsFields := formIn(t, idpPage.Body)
	if acs := b.post(acsURL, acsFields); acs.Status != http.StatusSeeOther || acs.Location != "/account?tab=2" {
		t.Errorf("ACS = %d %q, want 303 /account?tab=2", acs.Status, acs.Location)
	}

	if resp := login(env.newBrowser(), env, "nobody@else.test", ""); resp.Status != http.StatusBadRequest {
		t.Errorf("unknown email without password: /login = %d, want 400", resp.Status)
	}
}

// TestLoginNotCapturedBySSOTenant checks that a tenant cannot take over the
// sign-in of an email it does not own by provisioning an account for it
// over SCIM: the user is never sent to that tenant's IdP unless they pick
// it by name. Both users here sign in to Acme through SSO and have no
// password, and Acme does not require SSO.
func TestLoginNotCapturedBySSOTenant(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	bob := env.addUser(env.tenant, "bob@beta.example", "bob@beta.example")
	env.addUser(env.tenant, "carol@beta.example", "carol@beta.example")
	requiring := env.createTenant("aardvark", "Aardvark Ltd", tenants.Settings{RequireSSO: true})
	env.connect(requiring, env.idp, saml.HTTPRedirectBinding, []*x509.Certificate{env.idp.cert})
	env.addUser(requiring, "bob@beta.example", "bob@beta.example")
	optional := env.createTenant("abacus", "Abacus Inc", tenants.Settings{})
	env.connect(optional, env.idp, saml.HTTPRedirectBinding, []*x509.Certificate{env.idp.cert})
	env.addUser(optional, "carol@beta.example", "carol@beta.example")

	cases := []struct {
		name, email, password string
		wantStatus            int
		wantChoices           []string
	}{
		{"SSO user typing a password, other tenant requires SSO", "bob@beta.example", "a password Bob never had", http.StatusUnauthorized, nil},
		{"SSO user with an empty password, other tenant requires SSO", "bob@beta.example", "", http.StatusOK, []string{"/sso/aardvark", "/sso/acme"}},
		{"SSO user with an empty password, other tenant has SSO", "carol@beta.example", "", http.StatusOK, []string{"/sso/abacus", "/sso/acme"}},
	}
	for _, tc := range cases {
		resp := login(env.newBrowser(), env, tc.email, tc.password)
		if resp.Status != tc.wantStatus {
			t.Errorf("%s: /login = %d %q, want %d", tc.name, resp.Status, resp.Location, tc.wantStatus)
		}
		if strings.Contains(resp.Location, "/sso/") {
			t.Errorf("%s: /login sends the user to %s without a choice", tc.name, resp.Location)
		}
		for _, href := range tc.wantChoices {
			if !strings.Contains(resp.Body, `href="`+href+`"`) {
				t.Errorf("%s: the page offers no link to %s:\n%s", tc.name, href, resp.Body)
			}
		}
		if tc.wantChoices != nil && strings.Contains(resp.Body, "Your company requires you") {
			t.Errorf("%s: the choice says SSO is required, which Acme does not:\n%s", tc.name, resp.Body)
		}
	}

	env.exec(`DELETE FROM users WHERE id = $1`, bob.ID)
	if resp := login(env.newBrowser(), env, "bob@beta.example", ""); resp.Location != "/sso/aardvark?reason=required" {
		t.Errorf("with accounts only at Aardvark: /login = %d %q, want 303 /sso/aardvark?reason=required", resp.Status, resp.Location)
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	user := env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.setPassword(user, testPassword)
	b := env.newBrowser()

	for i := 0; i < maxFailuresPerEmail; i++ {
		if resp := login(b, env, "ada@acme.test", "wrong password number x"); resp.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: /login = %d, want 401", i+1, resp.Status)
		}
	}
	resp := login(b, env, "ada@acme.test", testPassword)
	if resp.Status != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after %d failures: /login = %d (Retry-After %q), want 429 with Retry-After", maxFailuresPerEmail, resp.Status, resp.Header.Get("Retry-After"))
	}
	if resp := login(b, env, "someone.else@acme.test", "wrong password number x"); resp.Status != http.StatusUnauthorized {
		t.Errorf("another email from the same client: /login = %d, want 401", resp.Status)
	}

	env.clock.set(signInFailureWindow + 1)
	if resp := login(b, env, "ada@acme.test", testPassword); resp.Status != http.StatusSeeOther {
		t.Errorf("after the window: /login = %d, want 303", resp.Status)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	user := env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.setPassword(user, testPassword)
	b := env.newBrowser()
	login(b, env, "ada@acme.test", testPassword)

	if resp := b.post(env.web.URL+"/logout", nil); resp.Status != http.StatusSeeOther || resp.Location != "/login" {
		t.Errorf("/logout = %d %q, want 303 /login", resp.Status, resp.Location)
	}
	if status, _ := env.me(b); status != http.StatusUnauthorized {
		t.Errorf("/me after logout = %d, want 401", status)
	}
}

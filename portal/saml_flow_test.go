package portal

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

// me returns the status and JSON body of /me for browser b.
func (env *signinEnv) me(b *browser) (int, map[string]any) {
	env.t.Helper()
	p := b.get(env.web.URL + "/me")
	var out map[string]any
	if err := json.Unmarshal([]byte(p.Body), &out); err != nil {
		env.t.Fatalf("/me is not JSON (%d): %s", p.Status, p.Body)
	}
	return p.Status, out
}

func (env *signinEnv) addDropLocation(t tenants.Tenant, name string) tenants.DropLocation {
	d, err := env.store.AddDropLocation(env.t.Context(), t.ID, name)
	if err != nil {
		env.t.Fatal(err)
	}
	return d
}

func TestSPInitiatedSignIn(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		binding string
		encrypt bool
	}{
		{"redirect binding, encrypted assertion", saml.HTTPRedirectBinding, true},
		{"redirect binding, plaintext assertion", saml.HTTPRedirectBinding, false},
		{"post binding, encrypted assertion", saml.HTTPPostBinding, true},
		{"post binding, plaintext assertion", saml.HTTPPostBinding, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newSigninEnv(t, envOptions{Binding: tc.binding})
			env.idp.trustSP(t, env, "acme", tc.encrypt)
			env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
			env.idp.setUser("ada@acme.test")
			b := env.newBrowser()
			successBefore := testutil.ToFloat64(signInOutcomes.WithLabelValues("saml", "success"))

			acs := env.signInSPInitiated(b, "acme")
			if acs.Status != http.StatusSeeOther || acs.Location != "/account" {
				t.Fatalf("ACS = %d %q, want 303 /account; body:\n%s\nlogs:\n%s", acs.Status, acs.Location, acs.Body, env.logs)
			}
			if got := testutil.ToFloat64(signInOutcomes.WithLabelValues("saml", "success")); got < successBefore+1 {
				t.Errorf("gatehouse_signin_total{outcome=success} = %v, want at least %v", got, successBefore+1)
			}
			if page := b.get(env.web.URL + "/account"); !strings.Contains(page.Body, `action="/logout"`) {
				t.Errorf("the account page has no sign-out form:\n%s", page.Body)
			}
			status, me := env.me(b)
			want := map[string]any{"tenant": "acme", "userName": "ada@acme.test", "email": "ada@acme.test", "dropLocation": nil}
			if status != http.StatusOK {
				t.Fatalf("/me status = %d", status)
			}
			if diff := cmp.Diff(want, me); diff != "" {
				t.Errorf("/me (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSPInitiatedPostBindingPage(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{Binding: saml.HTTPPostBinding})
	p := env.newBrowser().get(env.web.URL + "/sso/acme")
	if p.Status != http.StatusOK {
		t.Fatalf("status = %d, want 200", p.Status)
	}
	if !strings.Contains(p.Body, "data-autosubmit") || strings.Contains(p.Body, "<script>") {
		t.Errorf("the POST binding page must use data-autosubmit and no inline script:\n%s", p.Body)
	}
	idpOrigin := strings.TrimSuffix(env.idp.srv.URL, "/")
	if got := p.Header.Get("Content-Security-Policy"); !strings.Contains(got, "form-action 'self' "+idpOrigin) {
		t.Errorf("CSP = %q, want form-action to allow %s", got, idpOrigin)
	}
	if !strings.Contains(p.Header.Get("Cache-Control"), "no-store") {
		t.Errorf("Cache-Control = %q, want no-store", p.Header.Get("Cache-Control"))
	}
}

func TestFirstSignInPicksDropLocation(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	env.addDropLocation(env.tenant, "Lobby")
	kitchen := env.addDropLocation(env.tenant, "Kitchen, 3rd floor")
	other := env.createTenant("globex", "Globex", tenants.Settings{})
	foreign := env.addDropLocation(other, "Globex lobby")
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.setUser("ada@acme.test")
	b := env.newBrowser()

	acs := env.signInSPInitiated(b, "acme")
	if acs.Status != http.StatusSeeOther || acs.Location != "/account/drop-location?next=%2Faccount" {
		t.Fatalf("ACS = %d %q, want the drop location page first", acs.Status, acs.Location)
	}
	if home := b.get(env.web.URL + "/account"); home.Location != "/account/drop-location?next=%2Faccount" {
		t.Errorf("/account before a drop location = %d %q, want the drop location page", home.Status, home.Location)
	}
	picker := b.get(env.web.URL + acs.Location)
	if !strings.Contains(picker.Body, "Kitchen, 3rd floor") || strings.Contains(picker.Body, "Globex lobby") {
		t.Errorf("the picker must list exactly the tenant's drop locations:\n%s", picker.Body)
	}

	bad := b.post(env.web.URL+"/account/drop-location", url.Values{"drop_location": {foreign.ID}, "next": {"/account"}})
	if bad.Status != http.StatusBadRequest {
		t.Errorf("another tenant's drop location: status %d, want 400", bad.Status)
	}
	ok := b.post(env.web.URL+"/account/drop-location", url.Values{"drop_location": {kitchen.ID}, "next": {"/account"}})
	if ok.Status != http.StatusSeeOther || ok.Location != "/account" {
		t.Fatalf("pick = %d %q, want 303 /account", ok.Status, ok.Location)
	}
	if _, me := env.me(b); me["dropLocation"] != "Kitchen, 3rd floor" {
		t.Errorf("/me dropLocation = %v, want Kitchen, 3rd floor", me["dropLocation"])
	}
	home := b.get(env.web.URL + "/account")
	if home.Status != http.StatusOK || !strings.Contains(home.Body, "Kitchen, 3rd floor") {
		t.Errorf("/account = %d, want 200 with the drop location", home.Status)
	}

	second := env.signInSPInitiated(env.newBrowser(), "acme")
	if second.Location != "/account" {
		t.Errorf("second sign-in goes to %q, want /account", second.Location)
	}
}

func TestIdPInitiatedSignIn(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		allowed      bool
		relayState   string
		wantStatus   int
		wantLocation string
	}{
		{"allowed with local RelayState", true, "/account?tab=1", http.StatusSeeOther, "/account?tab=1"},
		{"allowed without RelayState", true, "", http.StatusSeeOther, "/account"},
		{"off-site RelayState is ignored", true, "https://evil.example/steal", http.StatusSeeOther, "/account"},
		{"protocol-relative RelayState is ignored", true, "//evil.example/steal", http.StatusSeeOther, "/account"},
		{"backslash RelayState is ignored", true, "/\\evil.example", http.StatusSeeOther, "/account"},
		{"refused when the tenant does not allow it", false, "", http.StatusForbidden, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newSigninEnv(t, envOptions{Settings: tenants.Settings{IdPInitiated: tc.allowed}})
			env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
			env.idp.setUser("ada@acme.test")
			b := env.newBrowser()

			q := url.Values{"sp": {env.srv.spEntityID("acme")}, "RelayState": {tc.relayState}}
			idpPage := b.get(env.idp.srv.URL + "/start?" + q.Encode())
			_, action, fields := formIn(t, idpPage.Body)
			acs := b.post(action, fields)
			if acs.Status != tc.wantStatus || acs.Location != tc.wantLocation {
				t.Fatalf("ACS = %d %q, want %d %q; logs:\n%s", acs.Status, acs.Location, tc.wantStatus, tc.wantLocation, env.logs)
			}
			status, _ := env.me(b)
			if signedIn := status == http.StatusOK; signedIn != tc.allowed {
				t.Errorf("signed in by the unsolicited response = %v, want %v", signedIn, tc.allowed)
			}
			if !tc.allowed && !strings.Contains(acs.Body, codeUnsolicited) {
				t.Errorf("refusal page does not name code %s", codeUnsolicited)
			}
			// The refusal starts a sign-in that gatehouse requests, and the
			// IdP responds to it for the user signed in there.
			if !tc.allowed {
				if refresh := acs.Header.Get("Refresh"); refresh != "1; url=/sso/acme" {
					t.Fatalf("refusal Refresh header = %q, want a restart at /sso/acme", refresh)
				}
				if restarted := env.signInSPInitiated(b, "acme"); restarted.Status != http.StatusSeeOther {
					t.Fatalf("restarted sign-in: ACS = %d, want 303; logs:\n%s", restarted.Status, env.logs)
				}
				if status, _ := env.me(b); status != http.StatusOK {
					t.Errorf("/me after the restarted sign-in = %d, want 200", status)
				}
			}
		})
	}
}

func TestCertificateRollover(t *testing.T) {
	t.Parallel()
	nextKey, nextCert := newKeyPair(t, "Test IdP next", time.Now().Add(-time.Hour), time.Now().Add(48*time.Hour))
	env := newSigninEnv(t, envOptions{ExtraCerts: nil})
	oldKey, oldCert := env.idp.key, env.idp.cert
	env.connect(env.tenant, env.idp, saml.HTTPRedirectBinding, []*x509.Certificate{oldCert, nextCert})
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.setUser("ada@acme.test")
	thirdKey, thirdCert := newKeyPair(t, "Test IdP stranger", time.Now().Add(-time.Hour), time.Now().Add(48*time.Hour))

	steps := []struct {
		name       string
		key        any
		cert       *x509.Certificate
		wantStatus int
	}{
		{"old certificate still trusted", oldKey, oldCert, http.StatusSeeOther},
		{"new certificate trusted", nextKey, nextCert, http.StatusSeeOther},
		{"unknown certificate rejected", thirdKey, thirdCert, http.StatusForbidden},
	}
	for _, step := range steps {
		env.idp.idp.Key, env.idp.idp.Certificate = step.key, step.cert
		acs := env.signInSPInitiated(env.newBrowser(), "acme")
		if acs.Status != step.wantStatus {
			t.Errorf("%s: ACS status = %d, want %d; body:\n%s", step.name, acs.Status, step.wantStatus, acs.Body)
		}
	}
}

func TestMeSignedOut(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	status, body := env.me(env.newBrowser())
	if status != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", status)
	}
	if diff := cmp.Diff(map[string]any{"error": "not signed in"}, body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestUnknownUserIsRefusedNotCreated(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{Settings: tenants.Settings{Autoprovision: true}})
	env.idp.setUser("stranger@acme.test")
	b := env.newBrowser()
	refusedBefore := testutil.ToFloat64(signInOutcomes.WithLabelValues("saml", "unknown_user"))

	acs := env.signInSPInitiated(b, "acme")
	if got := testutil.ToFloat64(signInOutcomes.WithLabelValues("saml", "unknown_user")); got < refusedBefore+1 {
		t.Errorf("gatehouse_signin_total{outcome=unknown_user} = %v, want at least %v", got, refusedBefore+1)
	}
	if acs.Status != http.StatusForbidden || !strings.Contains(acs.Body, "We could not find your account") {
		t.Errorf("ACS = %d, want 403 with a clear page:\n%s", acs.Status, acs.Body)
	}
	var users int
	if err := env.db.Get(&users, `SELECT count(*) FROM users`); err != nil {
		t.Fatal(err)
	}
	if users != 0 {
		t.Errorf("users = %d after an unknown user's sign-in, want 0", users)
	}
	if status, _ := env.me(b); status != http.StatusUnauthorized {
		t.Errorf("/me = %d, want 401", status)
	}
	if strings.Contains(env.logs.String(), "stranger@acme.test") {
		t.Errorf("the log contains the NameID:\n%s", env.logs)
	}
}

func TestDeactivatedUserRefusedAndSignedOut(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	user := env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.setUser("ada@acme.test")
	b := env.newBrowser()
	if acs := env.signInSPInitiated(b, "acme"); acs.Status != http.StatusSeeOther {
		t.Fatalf("first sign-in: %d", acs.Status)
	}
	other := env.newBrowser()
	if acs := env.signInSPInitiated(other, "acme"); acs.Status != http.StatusSeeOther {
		t.Fatalf("second browser sign-in: %d", acs.Status)
	}

	env.exec(`UPDATE users SET active = false WHERE id = $1`, user.ID)
	if status, _ := env.me(b); status != http.StatusUnauthorized {
		t.Errorf("/me after deactivation = %d, want 401", status)
	}
	var sessions int
	if err := env.db.Get(&sessions, `SELECT count(*) FROM sessions WHERE user_id = $1`, user.ID); err != nil {
		t.Fatal(err)
	}
	if sessions != 0 {
		t.Errorf("sessions after deactivation = %d, want 0 (every session ends at once)", sessions)
	}
	if p := other.get(env.web.URL + "/account"); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/login") {
		t.Errorf("/account in the other browser = %d %q, want a redirect to /login", p.Status, p.Location)
	}

	acs := env.signInSPInitiated(b, "acme")
	if acs.Status != http.StatusForbidden || !strings.Contains(acs.Body, "deactivated") {
		t.Errorf("sign-in while deactivated = %d, want 403 saying deactivated:\n%s", acs.Status, acs.Body)
	}

	env.exec(`UPDATE users SET active = true, deleted_at = now() WHERE id = $1`, user.ID)
	if acs := env.signInSPInitiated(env.newBrowser(), "acme"); acs.Status != http.StatusForbidden {
		t.Errorf("sign-in of a deleted user = %d, want 403", acs.Status)
	}
}

func TestSPMetadata(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	sp := env.idp.trustSP(t, env, "acme", true)
	if sp.EntityID != env.web.URL+"/saml/acme/metadata" {
		t.Errorf("entity ID = %q", sp.EntityID)
	}
	acs := sp.SPSSODescriptors[0].AssertionConsumerServices
	want := []saml.IndexedEndpoint{{Binding: saml.HTTPPostBinding, Location: env.web.URL + "/saml/acme/acs", Index: 1}}
	if diff := cmp.Diff(want, acs, cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".IsDefault" || p.Last().String() == ".ResponseLocation"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("ACS (-want +got):\n%s", diff)
	}
	if min := time.Now().AddDate(10, 0, 0); sp.ValidUntil.Before(min) {
		t.Errorf("validUntil = %s, want after %s: IdPs that keep a copy honor it", sp.ValidUntil, min)
	}
	var encryption []saml.KeyDescriptor
	for _, kd := range sp.SPSSODescriptors[0].KeyDescriptors {
		if kd.Use == "encryption" {
			encryption = append(encryption, kd)
		}
	}
	spCert := base64.StdEncoding.EncodeToString(spCertificate(t, env).Raw)
	if len(encryption) != 1 || encryption[0].KeyInfo.X509Data.X509Certificates[0].Data != spCert {
		t.Errorf("encryption KeyDescriptors = %+v, want one with the SP certificate", encryption)
	}
	if p := env.newBrowser().get(env.web.URL + "/saml/nobody/metadata"); p.Status != http.StatusNotFound {
		t.Errorf("metadata of an unknown slug = %d, want 404", p.Status)
	}
}

func TestExpiredIdPCertificate(t *testing.T) {
	t.Parallel()
	env := newSigninEnv(t, envOptions{})
	expiredAt := time.Date(2024, 11, 16, 12, 0, 0, 0, time.UTC)
	key, cert := newKeyPair(t, "Old IdP", expiredAt.AddDate(-3, 0, 0), expiredAt)
	env.idp.idp.Key, env.idp.idp.Certificate = key, cert
	env.connect(env.tenant, env.idp, saml.HTTPRedirectBinding, []*x509.Certificate{cert})
	env.addUser(env.tenant, "ada@acme.test", "ada@acme.test")
	env.idp.setUser("ada@acme.test")

	acs := env.signInSPInitiated(env.newBrowser(), "acme")
	if m := failureCodePattern.FindStringSubmatch(acs.Body); acs.Status != http.StatusForbidden || m == nil || m[1] != codeCertificate {
		t.Errorf("ACS = %d %v, want 403 %s", acs.Status, m, codeCertificate)
	}
	if want := `the certificate \"Old IdP\" expired on Nov 16, 2024`; !strings.Contains(env.logs.String(), want) {
		t.Errorf("the log does not give the expiry date (%s):\n%s", want, env.logs)
	}
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"/account":                     "/account",
		"/account/drop-location?x=1":   "/account/drop-location?x=1",
		"":                             "",
		"account":                      "",
		"//evil.example/x":             "",
		"/\\evil.example":              "",
		"https://evil.example/":        "",
		"javascript:alert(1)":          "",
		"/ok\r\nSet-Cookie: x=1":       "",
		"/" + strings.Repeat("a", 600): "",
	}
	for in, want := range cases {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

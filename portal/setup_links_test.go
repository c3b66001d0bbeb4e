package portal_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

func TestSetupLinkErrors(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t)
	verify, status := env.submitValid(validForm(t), "192.0.2.50")

	cases := []struct {
		name string
		path string
		want int
	}{
		{"malformed status secret", "/setup/status/short", http.StatusNotFound},
		{"unknown status secret", "/setup/status/" + strings.Repeat("A", 43), http.StatusNotFound},
		{"unknown verify secret", "/setup/verify/" + strings.Repeat("B", 43), http.StatusNotFound},
		{"valid status link", status, http.StatusOK},
		{"valid verify link", verify, http.StatusOK},
	}
	for _, tc := range cases {
		if rec := env.get(tc.path); rec.Code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, rec.Code, tc.want)
		}
	}

	env.now = setupClock.Add(forms.VerifyLinkLifetime + time.Minute)
	rec := env.get(verify)
	if rec.Code != http.StatusGone || !strings.Contains(rec.Body.String(), "This link has expired") {
		t.Errorf("expired verify link: status %d, want 410 with an explanation", rec.Code)
	}
	if rec := env.postURLEncoded(verify, url.Values{}, "192.0.2.50"); rec.Code != http.StatusGone {
		t.Errorf("confirming with an expired link: status %d, want 410", rec.Code)
	}
	if got := env.onlyRequest().State; got != forms.StateUnverified {
		t.Errorf("state after an expired confirmation = %s, want unverified", got)
	}

	env.now = setupClock.Add(forms.StatusLinkLifetime + time.Minute)
	if rec := env.get(status); rec.Code != http.StatusGone {
		t.Errorf("expired status link: status %d, want 410", rec.Code)
	}
}

func TestSetupVerifyTwice(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t)
	verify, _ := env.submitValid(validForm(t), "192.0.2.51")

	first := env.postURLEncoded(verify, url.Values{}, "192.0.2.51")
	if first.Code != http.StatusSeeOther || !strings.HasPrefix(first.Header().Get("Location"), "/setup/status/") {
		t.Fatalf("first confirmation: status %d to %q, want 303 to the status page", first.Code, first.Header().Get("Location"))
	}
	landing := env.get(first.Header().Get("Location")).Body.String()
	if !strings.Contains(landing, "Your email address is confirmed") {
		t.Errorf("status page after confirming does not say the address is confirmed")
	}
	second := env.postURLEncoded(verify, url.Values{}, "192.0.2.51")
	if second.Code != http.StatusSeeOther || second.Header().Get("Location") != verify {
		t.Errorf("second confirmation: status %d to %q, want 303 to the verify page without a new status link",
			second.Code, second.Header().Get("Location"))
	}
	page := env.get(verify).Body.String()
	if !strings.Contains(page, "Your email address is confirmed") || !strings.Contains(page, `href="/setup/resend"`) {
		t.Errorf("verify page after confirming does not say so, or does not offer new links")
	}
	var events int
	env.db.Get(&events, `SELECT count(*) FROM request_events WHERE to_state = 'submitted'`)
	if events != 1 {
		t.Errorf("%d submitted events after confirming twice, want 1", events)
	}
}

func TestSetupResendLinks(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t)
	oldVerify, oldStatus := env.submitValid(validForm(t), "192.0.2.52")

	for _, email := range []string{"ADA@acme.example", "nobody@acme.example"} {
		rec := env.postURLEncoded("/setup/resend", url.Values{"email": {email}}, "192.0.2.52")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "If we have requests for that address") {
			t.Errorf("resend for %s: status %d, or the page differs", email, rec.Code)
		}
	}
	mails := env.mails()
	if len(mails) != 2 {
		t.Fatalf("%d mails, want the original and one re-sent", len(mails))
	}
	newVerify, newStatus := links(t, mails[1])
	if newVerify == oldVerify || newStatus == oldStatus {
		t.Errorf("re-sent links equal the old ones")
	}
	for _, old := range []string{oldVerify, oldStatus} {
		if rec := env.get(old); rec.Code != http.StatusNotFound {
			t.Errorf("old link %s: status %d, want 404", old[:14], rec.Code)
		}
	}
	for _, fresh := range []string{newVerify, newStatus} {
		if rec := env.get(fresh); rec.Code != http.StatusOK {
			t.Errorf("new link %s: status %d, want 200", fresh[:14], rec.Code)
		}
	}

	rec := env.postURLEncoded("/setup/resend", url.Values{"email": {"not an address"}}, "192.0.2.53")
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `href="#field-email"`) {
		t.Errorf("malformed address: status %d, want 422 with a summary link", rec.Code)
	}
}

func TestSetupSlugs(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t)
	_, err := tenants.NewStore(env.db).Create(t.Context(), tenants.Tenant{Slug: "acme", Name: "Acme", Product: tenants.MealProgram})
	if err != nil {
		t.Fatal(err)
	}

	values := validForm(t)
	values.Set("tenant_slug", "acme")
	rec := env.postMultipart("/setup", values, nil, "192.0.2.54")
	if got := fieldErrors(rec.Body.String(), "tenant_slug"); !strings.Contains(got, "acme is already taken") || !strings.Contains(got, "acme-2") {
		t.Errorf("taken slug: errors %q, want it taken with the suggestion acme-2", got)
	}

	values.Set("company_name", "Acme")
	values.Set("tenant_slug", "")
	env.submitValid(values, "192.0.2.54")
	if got := env.onlyRequest().TenantSlug; got != "acme-2" {
		t.Errorf("slug made from a taken company name = %q, want acme-2", got)
	}

	values.Set("contact_email", "bob@acme.example")
	values.Set("tenant_slug", "acme-2")
	rec = env.postMultipart("/setup", values, nil, "192.0.2.54")
	if got := fieldErrors(rec.Body.String(), "tenant_slug"); !strings.Contains(got, "acme-2 is already taken") {
		t.Errorf("slug of an open request: errors %q, want it taken", got)
	}
}

func TestSetupPreviewValues(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t)
	values := validForm(t)
	values.Set("action", "preview")
	values.Set("company_name", "Zürich Café AG")

	rec := env.postMultipart("/setup", values, nil, "192.0.2.55")
	if rec.Code != http.StatusOK {
		t.Fatalf("preview: status %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{setupBaseURL + "/saml/zurich-cafe-ag/acs", `value="zurich-cafe-ag"`} {
		if !strings.Contains(body, want) {
			t.Errorf("preview lacks %q", want)
		}
	}
	if n := env.count("setup_requests"); n != 0 {
		t.Errorf("preview stored %d requests", n)
	}
}

func TestSetupRateLimits(t *testing.T) {
	t.Parallel()

	t.Run("submit per client address", func(t *testing.T) {
		t.Parallel()
		env := newSetupEnv(t)
		values := validForm(t)
		values.Set("company_name", "")
		last := 0
		for i := 0; i < 21; i++ {
			last = env.postMultipart("/setup", values, nil, "192.0.2.60").Code
		}
		checkLimited(t, last, "192.0.2.60")
		if rec := env.postMultipart("/setup", values, nil, "192.0.2.61"); rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("another address: status %d, want 422", rec.Code)
		}
		env.now = env.now.Add(10 * time.Minute)
		if rec := env.postMultipart("/setup", values, nil, "192.0.2.60"); rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("same address 10 minutes later: status %d, want 422", rec.Code)
		}
	})

	t.Run("submit per contact email", func(t *testing.T) {
		t.Parallel()
		env := newSetupEnv(t)
		for i := 0; i < 3; i++ {
			values := validForm(t)
			values.Set("tenant_slug", "acme-"+strconv.Itoa(i))
			env.submitValid(values, "192.0.2."+strconv.Itoa(70+i))
		}
		values := validForm(t)
		values.Set("contact_email", "Ada@ACME.example")
		rec := env.postMultipart("/setup", values, nil, "192.0.2.79")
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
			t.Errorf("fourth request for one address: status %d, Retry-After %q; want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
		}
		if !strings.Contains(rec.Body.String(), `value="Acme Corporation"`) {
			t.Errorf("rate-limited form lost what was typed")
		}
		if n := env.count("setup_requests"); n != 3 {
			t.Errorf("%d requests stored, want 3", n)
		}
	})

	t.Run("verify per client address", func(t *testing.T) {
		t.Parallel()
		env := newSetupEnv(t)
		last := 0
		for i := 0; i < 31; i++ {
			last = env.do(httptestRequest(http.MethodGet, "/setup/verify/"+strings.Repeat("C", 43), "", ""), "192.0.2.80").Code
		}
		checkLimited(t, last, "192.0.2.80")
	})

	t.Run("resend per contact email", func(t *testing.T) {
		t.Parallel()
		env := newSetupEnv(t)
		env.submitValid(validForm(t), "192.0.2.90")
		codes := []int{}
		for i := 0; i < 4; i++ {
			rec := env.postURLEncoded("/setup/resend", url.Values{"email": {"ada@acme.example"}}, "192.0.2."+strconv.Itoa(91+i))
			codes = append(codes, rec.Code)
		}
		if codes[3] != http.StatusTooManyRequests {
			t.Errorf("resend statuses %v, want the fourth 429", codes)
		}
		if got := len(env.mails()); got != 4 {
			t.Errorf("%d mails, want the original and 3 re-sent", got)
		}
	})

	t.Run("resend per client address", func(t *testing.T) {
		t.Parallel()
		env := newSetupEnv(t)
		last := 0
		for i := 0; i < 6; i++ {
			last = env.postURLEncoded("/setup/resend", url.Values{"email": {"u" + strconv.Itoa(i) + "@acme.example"}}, "192.0.2.95").Code
		}
		checkLimited(t, last, "192.0.2.95")
	})
}

func checkLimited(t *testing.T, status int, ip string) {
	t.Helper()
	if status != http.StatusTooManyRequests {
		t.Errorf("last attempt from %s: status %d, want 429", ip, status)
	}
}

func TestSetupStatusShowsConnectionTest(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t)
	values := validForm(t)
	values.Set("product", "marketplace")
	verify, status := env.submitValid(values, "192.0.2.56")

	page := env.get(status).Body.String()
	if strings.Contains(page, "/test\"") {
		t.Errorf("unconfirmed request offers a connection test")
	}
	if !strings.Contains(page, "Marketplace is in early access") {
		t.Errorf("status page of a Marketplace request lacks the early-access notice")
	}

	env.postURLEncoded(verify, url.Values{}, "192.0.2.56")
	page = env.get(status).Body.String()
	if !strings.Contains(page, `action="`+status+`/test"`) {
		t.Errorf("status page lacks the connection test button")
	}

	cases := []struct {
		name   string
		result string
		want   []string
	}{
		{"success", `{"ok": true, "name_id": "ada@acme.example", "name_id_format": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
			"attributes": [{"name": "email", "values": ["ada@acme.example"]}, {"name": "firstName", "values": ["Ada"]}]}`,
			[]string{"The last test succeeded", "ada@acme.example", "Missing attributes: <code>lastName</code>"}},
		{"failure", `{"ok": false, "code": "signature", "reason": "The signature did not verify with the certificate you gave."}`,
			[]string{"The last test failed", "The signature did not verify with the certificate you gave."}},
	}
	for _, tc := range cases {
		_, err := env.db.Exec(`UPDATE setup_requests SET test_result = $1::jsonb, test_at = $2`, tc.result, setupClock)
		if err != nil {
			t.Fatal(err)
		}
		page := env.get(status).Body.String()
		for _, want := range tc.want {
			if !strings.Contains(page, want) {
				t.Errorf("%s: status page lacks %q", tc.name, want)
			}
		}
	}
}

func TestSetupStatusLinksOutliveDecisions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		decision forms.State
		note     string
		want     string // on the status page after the decision
	}{
		{"approved", forms.StateApproved, "", "Your request is approved."},
		{"rejected", forms.StateRejected, "We only onboard paying customers.", "We could not approve this request."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newSetupEnv(t)
			verify, mailed := env.submitValid(validForm(t), "192.0.2.57")
			confirmed := env.postURLEncoded(verify, url.Values{}, "192.0.2.57").Header().Get("Location")
			if !strings.HasPrefix(confirmed, "/setup/status/") || strings.HasPrefix(confirmed, mailed) {
				t.Fatalf("confirmation redirects to %q, want a status page of its own", confirmed)
			}

			env.now = setupClock.Add(24 * time.Hour)
			env.decide(env.onlyRequest(), tc.decision, tc.note)
			var decided string
			for _, m := range env.mails() {
				if m.Kind == "request_status" {
					_, decided = links(t, m)
				}
			}

			for name, path := range map[string]string{"verification mail": mailed, "confirmation": confirmed, "decision mail": decided} {
				rec := env.get(path)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), tc.want) {
					t.Errorf("%s link after the decision: status %d, want 200 with %q", name, rec.Code, tc.want)
				}
				if strings.Contains(rec.Body.String(), "/withdraw") {
					t.Errorf("%s link after the decision offers to withdraw", name)
				}
			}

			env.now = setupClock.Add(forms.StatusLinkLifetime + time.Minute)
			if rec := env.get(mailed); rec.Code != http.StatusGone || !strings.Contains(rec.Body.String(), "This link has expired") {
				t.Errorf("verification mail's link after its lifetime: status %d, want 410", rec.Code)
			}
			if rec := env.get(decided); rec.Code != http.StatusOK {
				t.Errorf("decision mail's link, sent a day later: status %d, want 200 until its own expiry", rec.Code)
			}
		})
	}
}

package portal_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/forms"
)

func TestSetupJourney(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t)

	form := env.get("/setup")
	if form.Code != http.StatusOK {
		t.Fatalf("GET /setup: status %d", form.Code)
	}

	verify, status := env.submitValid(validForm(t), "192.0.2.20")
	r := env.onlyRequest()
	if r.State != forms.StateUnverified {
		t.Errorf("state after submit = %s, want unverified", r.State)
	}
	if r.TenantSlug != "acme-corporation" {
		t.Errorf("tenant slug = %q, want acme-corporation", r.TenantSlug)
	}

	page := env.get(verify)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "Confirm and send the request") {
		t.Fatalf("GET verify: status %d, no confirm button", page.Code)
	}
	if got := env.onlyRequest().State; got != forms.StateUnverified {
		t.Errorf("state after following the link = %s, want unverified", got)
	}

	done := env.postURLEncoded(verify, url.Values{}, "192.0.2.20")
	if done.Code != http.StatusSeeOther {
		t.Fatalf("POST verify: status %d", done.Code)
	}
	if got := env.onlyRequest().State; got != forms.StateSubmitted {
		t.Errorf("state after confirming = %s, want submitted", got)
	}

	page = env.get(status)
	if page.Code != http.StatusOK {
		t.Fatalf("GET status: status %d\n%s", page.Code, page.Body.String())
	}
	body := page.Body.String()
	for _, want := range []string{
		setupBaseURL + "/saml/acme-corporation/acs",
		setupBaseURL + "/saml/acme-corporation/metadata",
		setupBaseURL + "/scim/v2",
		r.Reference,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if got := page.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := page.Header().Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy = %q, want no-referrer", got)
	}

	// Staff ask for changes; the contact sees the note and edits.
	r = env.staffMove(env.onlyRequest(), forms.StateInReview, "")
	r = env.staffMove(r, forms.StateChangesRequested, "Please add a phone number we can reach on weekdays.")
	page = env.get(status)
	if !strings.Contains(page.Body.String(), "Please add a phone number we can reach on weekdays.") {
		t.Errorf("status page lacks the staff note")
	}
	edit := env.get(status + "/edit")
	if edit.Code != http.StatusOK {
		t.Fatalf("GET edit: status %d", edit.Code)
	}
	if !strings.Contains(edit.Body.String(), `value="Acme Corporation"`) {
		t.Errorf("edit form is not filled with the request")
	}

	changed := validForm(t)
	changed.Set("contact_phone", "+1 415 555 0199")
	changed.Set("contact_email", "mallory@evil.example")
	changed.Set("version", fmt.Sprint(r.Version))
	changed.Set("resubmit_note", "New phone number.")
	sent := env.postMultipart(status+"/edit", changed, nil, "192.0.2.20")
	if sent.Code != http.StatusSeeOther {
		t.Fatalf("POST edit: status %d\n%s", sent.Code, errorSummary(sent.Body.String()))
	}
	r = env.onlyRequest()
	if r.State != forms.StateSubmitted {
		t.Errorf("state after resubmitting = %s, want submitted", r.State)
	}
	if r.ContactPhone != "+1 415 555 0199" {
		t.Errorf("phone after resubmitting = %q, want the new one", r.ContactPhone)
	}
	if r.ContactEmail != "ada@acme.example" {
		t.Errorf("contact email changed to %q on resubmission", r.ContactEmail)
	}
	if got := env.count("request_revisions"); got != 1 {
		t.Errorf("request_revisions has %d rows, want 1", got)
	}

	// Resubmitting the same version again is a conflict.
	again := env.postMultipart(status+"/edit", changed, nil, "192.0.2.20")
	if again.Code == http.StatusSeeOther {
		t.Errorf("second resubmission of an old version was accepted")
	}

	// Withdraw.
	gone := env.postURLEncoded(status+"/withdraw", url.Values{"version": {fmt.Sprint(r.Version)}, "reason": {"Chose another vendor."}}, "192.0.2.20")
	if gone.Code != http.StatusSeeOther {
		t.Fatalf("POST withdraw: status %d", gone.Code)
	}
	if got := env.onlyRequest().State; got != forms.StateWithdrawn {
		t.Errorf("state after withdrawing = %s, want withdrawn", got)
	}
	page = env.get(status)
	for _, want := range []string{"Chose another vendor.", "You withdrew this request"} {
		if !strings.Contains(page.Body.String(), want) {
			t.Errorf("status page after withdrawing lacks %q", want)
		}
	}
}

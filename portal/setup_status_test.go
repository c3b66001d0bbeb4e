package portal_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/forms"
)

const (
	verifiedBanner    = "Your email address is confirmed, and your request is with the implementations team."
	resubmittedBanner = "Your changes are with the implementations team."
)

// statusBody returns the status page at path, failing the test unless it
// is a 200.
func (e *setupEnv) statusBody(path string) string {
	e.t.Helper()
	rec := e.get(path)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("GET %s: status %d", path, rec.Code)
	}
	return rec.Body.String()
}

// confirmed submits values, confirms the email address and returns the
// address the confirmation redirects to, with ?done=verified.
func (e *setupEnv) confirmed(values url.Values, ip string) string {
	e.t.Helper()
	verify, _ := e.submitValid(values, ip)
	rec := e.postURLEncoded(verify, url.Values{}, ip)
	location := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.HasSuffix(location, "?done=verified") {
		e.t.Fatalf("POST verify: status %d, Location %q, want 303 to ?done=verified", rec.Code, location)
	}
	return location
}

func TestStatusBannerOnlyWhileTrue(t *testing.T) {
	t.Parallel()
	env := newSetupEnv(t)
	landing := env.confirmed(validForm(t), "192.0.2.80")

	if body := env.statusBody(landing); !strings.Contains(body, verifiedBanner) {
		t.Errorf("landing page right after confirming lacks %q", verifiedBanner)
	}

	r := env.staffMove(env.onlyRequest(), forms.StateInReview, "")
	if body := env.statusBody(landing); strings.Contains(body, verifiedBanner) {
		t.Errorf("bookmarked landing page in review still shows %q", verifiedBanner)
	}
	r = env.staffMove(r, forms.StateChangesRequested, "Add a phone number.")
	body := env.statusBody(landing)
	if strings.Contains(body, verifiedBanner) {
		t.Errorf("bookmarked landing page after a change request still shows %q", verifiedBanner)
	}
	if !strings.Contains(body, "The implementations team asked for changes") {
		t.Errorf("bookmarked landing page after a change request lacks the request for changes")
	}

	changed := validForm(t)
	changed.Set("version", fmt.Sprint(r.Version))
	sent := env.postMultipart(strings.TrimSuffix(landing, "?done=verified")+"/edit", changed, nil, "192.0.2.80")
	resubmitted := sent.Header().Get("Location")
	if sent.Code != http.StatusSeeOther || !strings.HasSuffix(resubmitted, "?done=resubmitted") {
		t.Fatalf("POST edit: status %d, Location %q, want 303 to ?done=resubmitted", sent.Code, resubmitted)
	}
	if body := env.statusBody(resubmitted); !strings.Contains(body, resubmittedBanner) {
		t.Errorf("page right after resubmitting lacks %q", resubmittedBanner)
	}
	if body := env.statusBody(landing); strings.Contains(body, verifiedBanner) {
		t.Errorf("bookmarked landing page after resubmitting shows %q", verifiedBanner)
	}

	env.decide(env.staffMove(env.onlyRequest(), forms.StateInReview, ""), forms.StateApproved, "")
	for _, path := range []string{landing, resubmitted} {
		body := env.statusBody(path)
		if strings.Contains(body, verifiedBanner) || strings.Contains(body, resubmittedBanner) {
			t.Errorf("%s after approval still says the request is with the implementations team", path)
		}
	}
}

func TestStatusSCIMDetailsOnlyWhenRequested(t *testing.T) {
	t.Parallel()
	for _, scim := range []string{"yes", "no"} {
		t.Run("scim "+scim, func(t *testing.T) {
			t.Parallel()
			env := newSetupEnv(t)
			values := validForm(t)
			values.Set("scim", scim)
			if scim == "no" {
				values.Del("autoprovision") // autoprovisioning needs SCIM
			}
			body := env.statusBody(env.confirmed(values, "192.0.2.81"))

			for _, text := range []string{setupBaseURL + "/scim/v2", "SCIM base URL", "emailed link that shows it once"} {
				if got, want := strings.Contains(body, text), scim == "yes"; got != want {
					t.Errorf("status page shows %q: %t, want %t", text, got, want)
				}
			}
		})
	}
}

var revealLink = regexp.MustCompile(`https?://[^/\s]+(/token/[A-Za-z0-9_-]{43})`)

// approveWithToken confirms a SCIM request, approves it and returns its
// status page and the path of the token mail's reveal link.
func (e *setupEnv) approveWithToken(ip string) (status, reveal string) {
	e.t.Helper()
	status = strings.TrimSuffix(e.confirmed(validForm(e.t), ip), "?done=verified")
	e.decide(e.staffMove(e.onlyRequest(), forms.StateInReview, ""), forms.StateApproved, "")
	for _, m := range e.mails() {
		if match := revealLink.FindStringSubmatch(m.Text); match != nil {
			reveal = match[1]
		}
	}
	if reveal == "" {
		e.t.Fatalf("approval mailed no token reveal link")
	}
	return status, reveal
}

func TestStatusApprovedTokenMail(t *testing.T) {
	t.Parallel()
	const (
		pending  = "We emailed you a separate link that shows the SCIM token once."
		revealed = "You revealed the SCIM token on"
		lapsed   = "The link to your SCIM token stopped working on"
	)
	tests := []struct {
		name   string
		change func(t *testing.T, env *setupEnv, reveal string)
		want   string
	}{
		{"link waiting", func(*testing.T, *setupEnv, string) {}, pending},
		{"token revealed", func(t *testing.T, env *setupEnv, reveal string) {
			if rec := env.postURLEncoded(reveal, url.Values{}, "192.0.2.82"); rec.Code != http.StatusOK {
				t.Fatalf("POST reveal link: status %d", rec.Code)
			}
		}, revealed},
		{"link expired", func(t *testing.T, env *setupEnv, _ string) {
			if _, err := env.db.Exec(`UPDATE token_deliveries SET expires_at = $1`, setupClock.Add(-1)); err != nil {
				t.Fatal(err)
			}
		}, lapsed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newSetupEnv(t)
			status, reveal := env.approveWithToken("192.0.2.82")
			tt.change(t, env, reveal)

			body := env.statusBody(status)
			for _, text := range []string{pending, revealed, lapsed} {
				if got, want := strings.Contains(body, text), text == tt.want; got != want {
					t.Errorf("status page shows %q: %t, want %t", text, got, want)
				}
			}
		})
	}
}

func TestStatusMarketplaceNoticeByState(t *testing.T) {
	t.Parallel()
	const (
		beforeConfirm = "We will contact you to schedule it after you confirm your email address."
		inReview      = "They contact you to schedule it, and approve the request only after the meeting."
	)
	env := newSetupEnv(t)
	values := validForm(t)
	values.Set("product", "marketplace")
	verify, status := env.submitValid(values, "192.0.2.83")

	body := env.statusBody(status)
	if !strings.Contains(body, beforeConfirm) {
		t.Errorf("unverified status page lacks %q", beforeConfirm)
	}

	env.postURLEncoded(verify, url.Values{}, "192.0.2.83")
	body = env.statusBody(status)
	if strings.Contains(body, beforeConfirm) {
		t.Errorf("confirmed status page still shows %q", beforeConfirm)
	}
	if !strings.Contains(body, inReview) {
		t.Errorf("confirmed status page lacks %q", inReview)
	}

	env.staffMove(env.staffMove(env.onlyRequest(), forms.StateInReview, ""), forms.StateRejected, "Not yet.")
	if body := env.statusBody(status); strings.Contains(body, "Marketplace is in early access") {
		t.Errorf("rejected status page still shows the Marketplace notice")
	}
}

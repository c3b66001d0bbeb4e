package portal

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/forms"
)

func TestOutboxRetryOffer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		devMail   bool
		state     string
		attempts  int
		wantRetry bool
		wantState string // on the message page
	}{
		{"never tried", false, "pending", 0, false, "Not sent yet. The delivery worker sends it shortly."},
		{"failed once", false, "pending", 1, true, "Not sent yet: 1 attempt failed."},
		{"failed twice", false, "pending", 2, true, "Not sent yet: 2 attempts failed."},
		{"dead", false, "dead", 8, true, "All 8 attempts failed, so the delivery worker stopped trying."},
		{"sent", false, "sent", 1, false, "Sent</span>"},
		{"development, never tried", true, "pending", 0, false, "Not sent. No SMTP server is configured (SMTP_URL), so mail stays here."},
		{"development, dead", true, "dead", 8, false, "All 8 attempts failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newStaffEnv(t)
			env.srv.cfg.DevMail = tc.devMail
			c := env.client()
			c.signIn("rita@gatehouse.example", env.addStaff("rita@gatehouse.example", forms.RoleReviewer))
			id := env.addOutboxMail(tc.state, tc.attempts)
			retry := fmt.Sprintf(`action="/staff/outbox/%d/retry"`, id)

			page := c.get(fmt.Sprintf("/staff/outbox/%d", id)).Body
			if got := strings.Contains(page, retry); got != tc.wantRetry {
				t.Errorf("message page offers retry: %v, want %v", got, tc.wantRetry)
			}
			if !strings.Contains(page, tc.wantState) {
				t.Errorf("message page lacks %q", tc.wantState)
			}
			if strings.Contains(page, "after 0 attempts") {
				t.Errorf("message page reads \"after 0 attempts\"")
			}
			if got := strings.Contains(c.get("/staff/outbox").Body, retry); got != tc.wantRetry {
				t.Errorf("outbox list offers retry: %v, want %v", got, tc.wantRetry)
			}

			res := c.post(fmt.Sprintf("/staff/outbox/%d/retry", id), nil)
			if wantStatus := map[bool]int{true: http.StatusSeeOther, false: http.StatusConflict}[tc.wantRetry]; res.Status != wantStatus {
				t.Errorf("retry: status %d, want %d", res.Status, wantStatus)
			}
		})
	}
}

func TestOutboxTabs(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	c := env.client()
	c.signIn("rita@gatehouse.example", env.addStaff("rita@gatehouse.example", forms.RoleReviewer))
	env.addOutboxMail("dead", 8)

	page := c.get("/staff/outbox?state=dead").Body
	for _, want := range []string{
		`<a href="/staff/outbox">All</a>`,
		`<a href="/staff/outbox?state=pending">Pending</a>`,
		`<a href="/staff/outbox?state=sent">Sent</a>`,
		`<a href="/staff/outbox?state=dead" aria-current="page">Failed</a>`,
		`<span class="badge bad">Failed</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("outbox page lacks %s", want)
		}
	}
}

// addOutboxMail stores a message in state after attempts delivery
// attempts and returns its ID.
func (env *staffEnv) addOutboxMail(state string, attempts int) int64 {
	env.t.Helper()
	var id int64
	err := env.db.GetContext(env.t.Context(), &id, `
		INSERT INTO outbox (kind, to_address, subject, text_body, state, attempts, last_error, sent_at)
		VALUES ('request_status', 'ada@acme.example', 'Your SSO setup request GH-TEST is approved', 'Hello Ada,', $1, $2,
		    CASE WHEN $1 <> 'sent' AND $2 > 0 THEN 'dial tcp: connection refused' ELSE '' END,
		    CASE WHEN $1 = 'sent' THEN now() END)
		RETURNING id`, state, attempts)
	if err != nil {
		env.t.Fatalf("add outbox mail: %v", err)
	}
	return id
}

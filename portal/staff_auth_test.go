package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/forms"
)

// resetOutcome is what a client can observe of one reset request.
type resetOutcome struct {
	Status     int
	Body       string
	RetryAfter bool
}

func TestStaffResetRateLimitPerEmail(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	clock := &testClock{}
	env.srv.cfg.Now = clock.now
	env.addStaff("pat@gatehouse.example", forms.RoleReviewer)
	c := env.client()

	outcomes := map[string][]resetOutcome{}
	for _, email := range []string{"pat@gatehouse.example", "nobody@gatehouse.example"} {
		for i := range maxResetsPerEmail + 1 {
			res := c.postFrom("/staff/reset", "192.0.2."+strconv.Itoa(10+i), url.Values{"email": {email}})
			outcomes[email] = append(outcomes[email], resetOutcome{res.Status, res.Body, res.Header.Get("Retry-After") != ""})
		}
	}
	known, unknown := outcomes["pat@gatehouse.example"], outcomes["nobody@gatehouse.example"]
	if diff := cmp.Diff(known, unknown); diff != "" {
		t.Errorf("known and unknown addresses get different responses (-known +unknown):\n%s", diff)
	}
	last := known[len(known)-1]
	if last.Status != http.StatusTooManyRequests || !last.RetryAfter || !strings.Contains(last.Body, "Too many attempts in a short time") {
		t.Errorf("request %d for one address: status %d, Retry-After %v; want 429 with Retry-After and an explanation",
			maxResetsPerEmail+1, last.Status, last.RetryAfter)
	}
	if got := env.auditCount("staff.password_reset"); got != 2*maxResetsPerEmail {
		t.Errorf("staff.password_reset rows = %d, want %d: a limited request writes none", got, 2*maxResetsPerEmail)
	}

	if res := c.postFrom("/staff/reset", "192.0.2.99", url.Values{"email": {" NOBODY@gatehouse.example"}}); res.Status != http.StatusTooManyRequests {
		t.Errorf("same address in other case: status %d, want 429", res.Status)
	}
	clock.set(time.Hour)
	if res := c.postFrom("/staff/reset", "192.0.2.99", url.Values{"email": {"nobody@gatehouse.example"}}); res.Status != http.StatusOK {
		t.Errorf("same address an hour later: status %d, want 200", res.Status)
	}
}

func TestStaffResetRateLimitPerClient(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	c := env.client()

	last := 0
	for i := range maxResetsPerClient + 1 {
		last = c.postFrom("/staff/reset", "192.0.2.60", url.Values{"email": {"u" + strconv.Itoa(i) + "@gatehouse.example"}}).Status
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("request %d from one client: status %d, want 429", maxResetsPerClient+1, last)
	}
	if res := c.postFrom("/staff/reset", "192.0.2.61", url.Values{"email": {"other@gatehouse.example"}}); res.Status != http.StatusOK {
		t.Errorf("another client: status %d, want 200", res.Status)
	}
	if got := env.auditCount("staff.password_reset"); got != maxResetsPerClient+1 {
		t.Errorf("staff.password_reset rows = %d, want %d", got, maxResetsPerClient+1)
	}
}

// TestStaffResetAuditCap checks that, once unknown addresses have filled
// the hour's audit allowance, a reset for an unknown address writes no
// audit row but looks the same, and a known account is still audited.
func TestStaffResetAuditCap(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	env.addStaff("pat@gatehouse.example", forms.RoleReviewer)
	_, err := env.db.ExecContext(t.Context(), `
		INSERT INTO audit_log (actor, action, client_ip, detail)
		SELECT 'anonymous', 'staff.password_reset', '192.0.2.1', jsonb_build_object('email', 'x' || g || '@example.com', 'sent', false)
		FROM generate_series(1, $1) g`, forms.MaxUnknownResetAudits)
	if err != nil {
		t.Fatal(err)
	}
	c := env.client()

	unknown := c.postFrom("/staff/reset", "192.0.2.70", url.Values{"email": {"nobody@gatehouse.example"}})
	known := c.postFrom("/staff/reset", "192.0.2.71", url.Values{"email": {"pat@gatehouse.example"}})
	if diff := cmp.Diff(resetOutcome{known.Status, known.Body, false}, resetOutcome{unknown.Status, unknown.Body, false}); diff != "" {
		t.Errorf("known and unknown addresses get different responses (-known +unknown):\n%s", diff)
	}
	if got, want := env.auditCount("staff.password_reset"), forms.MaxUnknownResetAudits+1; got != want {
		t.Errorf("staff.password_reset rows = %d, want %d: the known account's only", got, want)
	}
	env.mailLink("pat@gatehouse.example", "/staff/password/")
}

// TestStaffResetRateLimitPerIPv6Network checks that the addresses of one
// IPv6 /64 network share one client bucket, since one host commonly holds
// the whole network and could otherwise take a fresh bucket per address.
func TestStaffResetRateLimitPerIPv6Network(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	c := env.client()

	last := 0
	for i := range maxResetsPerClient + 1 {
		ip := "2001:db8:1:2::" + strconv.FormatInt(int64(i+1), 16)
		last = c.postFrom("/staff/reset", ip, url.Values{"email": {"u" + strconv.Itoa(i) + "@gatehouse.example"}}).Status
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("request %d from one /64: status %d, want 429", maxResetsPerClient+1, last)
	}
	if res := c.postFrom("/staff/reset", "2001:db8:1:3::1", url.Values{"email": {"other@gatehouse.example"}}); res.Status != http.StatusOK {
		t.Errorf("another /64: status %d, want 200", res.Status)
	}
}

// TestStaffResetMinimumDuration checks that a reset takes at least
// resetMinDuration for a known and an unknown address alike, so that the
// known account's extra work (a link and a mail) does not show in the
// response time.
func TestStaffResetMinimumDuration(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	env.addStaff("pat@gatehouse.example", forms.RoleReviewer)
	c := env.client()

	for i, email := range []string{"pat@gatehouse.example", "nobody@gatehouse.example"} {
		start := time.Now()
		res := c.postFrom("/staff/reset", "192.0.2."+strconv.Itoa(80+i), url.Values{"email": {email}})
		if took := time.Since(start); took < resetMinDuration {
			t.Errorf("reset for %s took %v, want at least %v", email, took, resetMinDuration)
		}
		if res.Status != http.StatusOK {
			t.Errorf("reset for %s: status %d, want 200", email, res.Status)
		}
	}
}

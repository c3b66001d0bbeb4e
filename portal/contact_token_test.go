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

// postFrom posts a form as the client at ip, which the test server's
// router reads from X-Forwarded-For.
func (c *staffClient) postFrom(path, ip string, form url.Values) staffResponse {
	c.env.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.url(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", ip)
	return c.do(req)
}

// approvedStatusLink approves a seeded SCIM request and returns the
// contact's private status link.
func (env *staffEnv) approvedStatusLink(company string) string {
	env.t.Helper()
	staff := env.client()
	email := "ana." + forms.SlugFromName(company) + "@gatehouse.example"
	staff.signIn(email, env.addStaff(email, forms.RoleReviewer))
	r := env.seedRequest(seedOptions{Company: company, SCIM: true})
	if res := approve(env.t, staff, r, ""); res.Status != http.StatusSeeOther {
		env.t.Fatalf("approve %s: status %d", company, res.Status)
	}
	return env.mailLink(r.ContactEmail, "/setup/status/")
}

func TestContactRotationRateLimit(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	clock := &testClock{}
	env.srv.cfg.Now = clock.now
	status := env.approvedStatusLink("Acme Corp")
	contact := env.client()

	for i := range maxRotationsPerTenant {
		res := contact.postFrom(status+"/token/rotate", "192.0.2."+strconv.Itoa(10+i), nil)
		if res.Status != http.StatusOK {
			t.Fatalf("rotation %d: status %d, want 200", i+1, res.Status)
		}
	}
	res := contact.postFrom(status+"/token/rotate", "192.0.2.99", nil)
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Errorf("rotation %d: status %d, Retry-After %q; want 429 with Retry-After", maxRotationsPerTenant+1, res.Status, res.Header.Get("Retry-After"))
	}
	if !strings.Contains(res.Body, "Too many attempts in a short time") {
		t.Errorf("rate-limited rotation page lacks the explanation:\n%s", res.Body)
	}
	if got := env.auditCount("token.rotate"); got != maxRotationsPerTenant {
		t.Errorf("token.rotate rows = %d, want %d", got, maxRotationsPerTenant)
	}

	if res := contact.postFrom(status+"/token/revoke", "192.0.2.99", url.Values{"confirm": {"yes"}}); res.Status != http.StatusOK {
		t.Errorf("revoke after the rotation limit: status %d, want 200", res.Status)
	}
	clock.set(time.Hour)
	if res := contact.postFrom(status+"/token/rotate", "192.0.2.99", nil); res.Status != http.StatusOK {
		t.Errorf("rotation an hour later: status %d, want 200", res.Status)
	}
}

func TestContactTokenRateLimitPerClient(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	contact := env.client()
	unknown := "/setup/status/" + strings.Repeat("C", 43) + "/token/rotate"

	codes := map[int]int{}
	for range maxRotationsPerClient + 1 {
		codes[contact.postFrom(unknown, "192.0.2.50", nil).Status]++
	}
	want := map[int]int{http.StatusNotFound: maxRotationsPerClient, http.StatusTooManyRequests: 1}
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Errorf("status counts from one client (-want +got):\n%s", diff)
	}
	if res := contact.postFrom(unknown, "192.0.2.51", nil); res.Status != http.StatusNotFound {
		t.Errorf("another client: status %d, want 404", res.Status)
	}
}

func TestContactTokenRateLimitPerIPv6Network(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	contact := env.client()
	unknown := "/setup/status/" + strings.Repeat("C", 43) + "/token/rotate"

	codes := map[int]int{}
	for i := range maxRotationsPerClient + 1 {
		ip := "2001:db8:1:2::" + strconv.FormatInt(int64(i+1), 16)
		codes[contact.postFrom(unknown, ip, nil).Status]++
	}
	want := map[int]int{http.StatusNotFound: maxRotationsPerClient, http.StatusTooManyRequests: 1}
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Errorf("status counts from one /64 (-want +got):\n%s", diff)
	}
	if res := contact.postFrom(unknown, "2001:db8:1:3::1", nil); res.Status != http.StatusNotFound {
		t.Errorf("another /64: status %d, want 404", res.Status)
	}
}

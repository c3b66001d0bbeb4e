package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

func TestStaffRoleChecks(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	reviewer := env.client()
	reviewer.signIn("rita@gatehouse.example", env.addStaff("rita@gatehouse.example", forms.RoleReviewer))
	admin := env.client()
	admin.signIn("adam@gatehouse.example", env.addStaff("adam@gatehouse.example", forms.RoleAdmin))
	anonymous := env.client()

	tests := []struct {
		name   string
		client *staffClient
		method string
		path   string
		want   int
	}{
		{"reviewer cannot list people", reviewer, http.MethodGet, "/staff/people", http.StatusForbidden},
		{"reviewer cannot add people", reviewer, http.MethodPost, "/staff/people", http.StatusForbidden},
		{"admin lists people", admin, http.MethodGet, "/staff/people", http.StatusOK},
		{"reviewer sees the queue", reviewer, http.MethodGet, "/staff", http.StatusOK},
		{"reviewer sees the outbox", reviewer, http.MethodGet, "/staff/outbox", http.StatusOK},
		{"anonymous is sent to sign in", anonymous, http.MethodGet, "/staff", http.StatusSeeOther},
		{"anonymous cannot see tenants", anonymous, http.MethodGet, "/staff/tenants", http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res staffResponse
			if tt.method == http.MethodGet {
				res = tt.client.get(tt.path)
			} else {
				res = tt.client.post(tt.path, url.Values{"email": {"x@gatehouse.example"}, "name": {"X"}, "role": {"admin"}})
			}
			if res.Status != tt.want {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, res.Status, tt.want)
			}
		})
	}
	if n := env.auditCount("staff.invite"); n != 2 {
		t.Errorf("staff.invite rows = %d, want 2 (the two accounts of the test, none from the reviewer)", n)
	}
}

func TestStaffSignInLockout(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	password := env.addStaff("lee@gatehouse.example", forms.RoleReviewer)
	c := env.client()

	for i := 1; i < forms.MaxFailedSignIns; i++ {
		res := c.post("/staff/signin", url.Values{"email": {"lee@gatehouse.example"}, "password": {"wrong password " + fmt.Sprint(i)}})
		if res.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i, res.Status)
		}
	}
	res := c.post("/staff/signin", url.Values{"email": {"lee@gatehouse.example"}, "password": {"wrong again"}})
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("last failure: status %d, Retry-After %q; want 429 with Retry-After", res.Status, res.Header.Get("Retry-After"))
	}
	res = c.post("/staff/signin", url.Values{"email": {"lee@gatehouse.example"}, "password": {password}})
	if res.Status != http.StatusTooManyRequests {
		t.Errorf("right password while locked: status %d, want 429", res.Status)
	}
	if got := env.auditCount("staff.signin_failed"); got != forms.MaxFailedSignIns {
		t.Errorf("staff.signin_failed rows = %d, want %d", got, forms.MaxFailedSignIns)
	}
}

func TestStaffSessionRotatedAndEndedEverywhere(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	password := env.addStaff("sam@gatehouse.example", forms.RoleReviewer)
	first, second := env.client(), env.client()
	first.signIn("sam@gatehouse.example", password)
	second.signIn("sam@gatehouse.example", password)

	res := first.post("/staff/account/signout-all", nil)
	if res.Status != http.StatusSeeOther {
		t.Fatalf("sign out everywhere: status %d", res.Status)
	}
	for name, c := range map[string]*staffClient{"first": first, "second": second} {
		if res := c.get("/staff"); res.Status != http.StatusSeeOther || res.Location != "/staff/signin" {
			t.Errorf("%s browser after sign-out everywhere: status %d to %q, want 303 to /staff/signin", name, res.Status, res.Location)
		}
	}
}

func TestStaffPasswordReset(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	env.addStaff("pat@gatehouse.example", forms.RoleReviewer)
	c := env.client()

	for _, email := range []string{"pat@gatehouse.example", "nobody@gatehouse.example"} {
		res := c.post("/staff/reset", url.Values{"email": {email}})
		if res.Status != http.StatusOK || !strings.Contains(res.Body, "If an active staff account has that address") {
			t.Fatalf("reset for %s: status %d", email, res.Status)
		}
	}
	link := env.mailLink("pat@gatehouse.example", "/staff/password/")
	res := c.post(link, url.Values{"password": {"a brand new passphrase"}, "confirm": {"a brand new passphrase"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("set password: status %d: %s", res.Status, res.Body)
	}
	signin := c.get(res.Location).Body
	if !strings.Contains(signin, `value="pat@gatehouse.example"`) || !strings.Contains(signin, `current-password" required autofocus`) {
		t.Errorf("sign-in page after setting the password: email not filled in, or password not focused")
	}
	c.signIn("pat@gatehouse.example", "a brand new passphrase")
	if res := c.get(link); res.Status != http.StatusNotFound {
		t.Errorf("used link: status %d, want 404", res.Status)
	}
}

// approve claims and approves a request as c and returns the response.
func approve(t *testing.T, c *staffClient, r forms.Request, note string) staffResponse {
	t.Helper()
	page := c.get("/staff/requests/" + r.ID)
	version := versionIn(t, page.Body, "/staff/requests/"+r.ID+"/decide")
	return c.post("/staff/requests/"+r.ID+"/decide", url.Values{
		"version": {version}, "action": {"approve"}, "note": {note}, "slug": {r.TenantSlug},
	})
}

func TestApproveDeliversTokenOnce(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	c := env.client()
	c.signIn("rita@gatehouse.example", env.addStaff("rita@gatehouse.example", forms.RoleReviewer))
	r := env.seedRequest(seedOptions{SCIM: true})

	if res := approve(t, c, r, "Welcome aboard"); res.Status != http.StatusSeeOther {
		t.Fatalf("approve: status %d: %s", res.Status, res.Body)
	}
	timeline := c.get("/staff/requests/" + r.ID).Body
	timeline = timeline[strings.Index(timeline, `id="timeline"`):]
	for _, want := range []string{"<strong>Tenant created</strong> <span class=\"muted\">by rita</span>", "SCIM token issued", "Token link emailed"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("request timeline lacks %q", want)
		}
	}
	for _, raw := range []string{"tenant.create", "token.issue", "staff:"} {
		if strings.Contains(timeline, raw) {
			t.Errorf("request timeline shows the raw %q", raw)
		}
	}
	link := env.mailLink(r.ContactEmail, "/token/")
	contact := env.client()

	confirm := contact.get(link)
	if confirm.Status != http.StatusOK || !strings.Contains(confirm.Body, "Show the token now") {
		t.Fatalf("reveal page: status %d", confirm.Status)
	}
	shown := contact.post(link, nil)
	if shown.Status != http.StatusOK || shown.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("reveal: status %d, Cache-Control %q", shown.Status, shown.Header.Get("Cache-Control"))
	}
	token := staffTokenPattern.FindString(shown.Body)
	if token == "" {
		t.Fatal("the reveal page shows no token")
	}
	if _, tenant, err := env.srv.tenants.TokenByHash(t.Context(), secrets.Hash(token)); err != nil || tenant.Slug != r.TenantSlug {
		t.Fatalf("revealed token authenticates as %q, %v; want %s", tenant.Slug, err, r.TenantSlug)
	}

	again := contact.post(link, nil)
	if again.Status != http.StatusGone || !strings.Contains(again.Body, "already revealed") {
		t.Errorf("second reveal: status %d, want 410 saying already revealed", again.Status)
	}
	assertNoPlaintext(t, env, token)
	if strings.Contains(env.logs.String(), token) {
		t.Error("the logs contain the token")
	}
}

func TestRevealExpiredDelivery(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	tenant, _ := env.tenantWithToken("expired-co")
	store := env.srv.tenants
	token, rec, err := store.IssueToken(t.Context(), tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, link, err := store.CreateDelivery(t.Context(), env.ring, tenant.ID, rec.ID, token, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.db.ExecContext(t.Context(), `UPDATE token_deliveries SET expires_at = now() - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}

	c := env.client()
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		var res staffResponse
		if method == http.MethodGet {
			res = c.get("/token/" + link.Reveal())
		} else {
			res = c.post("/token/"+link.Reveal(), nil)
		}
		if res.Status != http.StatusGone || !strings.Contains(res.Body, "expired") || strings.Contains(res.Body, token.Reveal()) {
			t.Errorf("%s expired delivery: status %d, want 410 saying expired without the token", method, res.Status)
		}
	}
}

// tenantWithToken creates a tenant with SCIM on and a contact.
func (env *staffEnv) tenantWithToken(slug string) (tenants.Tenant, tenants.Contact) {
	env.t.Helper()
	store := env.srv.tenants
	tenant, err := store.Create(env.t.Context(), tenants.Tenant{Slug: slug, Name: "Tenant " + slug, Product: tenants.MealProgram,
		Settings: tenants.Settings{SCIM: true}})
	if err != nil {
		env.t.Fatal(err)
	}
	contact := tenants.Contact{Name: "Ida", Email: "ida@" + slug + ".example"}
	if err := store.SetContact(env.t.Context(), tenant.ID, contact); err != nil {
		env.t.Fatal(err)
	}
	tenant, _ = store.ByID(env.t.Context(), tenant.ID)
	return tenant, contact
}

func TestRotationGraceAndRevocation(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	tenant, contact := env.tenantWithToken("rotating-co")
	flow := forms.NewWorkflow(forms.WorkflowConfig{DB: env.db, Keyring: env.ring, BaseURL: env.web.URL, RotationGrace: 2 * time.Second})
	actor := forms.Actor{Name: "staff:test@gatehouse.example"}

	oldRec, err := flow.IssueToken(t.Context(), actor, tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	oldToken := env.revealLatest(contact.Email)
	newRec, err := flow.RotateToken(t.Context(), actor, tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	newToken := env.revealLatest(contact.Email)
	assertNoPlaintext(t, env, oldToken)
	assertNoPlaintext(t, env, newToken)

	env.assertAuthenticates(oldToken, true, "old token during the grace period")
	env.assertAuthenticates(newToken, true, "new token")
	time.Sleep(2500 * time.Millisecond)
	env.assertAuthenticates(oldToken, false, "old token after the grace period")
	env.assertAuthenticates(newToken, true, "new token after the grace period")

	c := env.client()
	c.signIn("rita@gatehouse.example", env.addStaff("rita@gatehouse.example", forms.RoleReviewer))
	res := c.post("/staff/tenants/rotating-co/tokens/"+newRec.ID+"/revoke", nil)
	if res.Status != http.StatusSeeOther {
		t.Fatalf("revoke: status %d: %s", res.Status, res.Body)
	}
	env.assertAuthenticates(newToken, false, "revoked token")
	if oldRec.ID == newRec.ID {
		t.Error("rotation reused the token record")
	}
}

func (env *staffEnv) assertAuthenticates(token string, want bool, what string) {
	env.t.Helper()
	_, _, err := env.srv.tenants.TokenByHash(env.t.Context(), secrets.Hash(token))
	if got := err == nil; got != want {
		env.t.Errorf("%s authenticates = %v (%v), want %v", what, got, err, want)
	}
}

// revealLatest reveals the newest token delivery mailed to address.
func (env *staffEnv) revealLatest(address string) string {
	env.t.Helper()
	res := env.client().post(env.mailLink(address, "/token/"), nil)
	token := staffTokenPattern.FindString(res.Body)
	if res.Status != http.StatusOK || token == "" {
		env.t.Fatalf("reveal: status %d, token found %v", res.Status, token != "")
	}
	return token
}

func TestDecisionConflict(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	ana, bob := env.client(), env.client()
	ana.signIn("ana@gatehouse.example", env.addStaff("ana@gatehouse.example", forms.RoleReviewer))
	bob.signIn("bob@gatehouse.example", env.addStaff("bob@gatehouse.example", forms.RoleReviewer))
	r := env.seedRequest(seedOptions{})

	anaPage := ana.get("/staff/requests/" + r.ID)
	bobPage := bob.get("/staff/requests/" + r.ID)
	decide := "/staff/requests/" + r.ID + "/decide"
	first := ana.post(decide, url.Values{"version": {versionIn(t, anaPage.Body, decide)}, "action": {"request_changes"}, "note": {"Add a second certificate"}})
	if first.Status != http.StatusSeeOther {
		t.Fatalf("first decision: status %d: %s", first.Status, first.Body)
	}
	second := bob.post(decide, url.Values{"version": {versionIn(t, bobPage.Body, decide)}, "action": {"reject"}, "note": {"Not a customer"}})
	if second.Status != http.StatusConflict || !strings.Contains(second.Body, "Someone else changed this") {
		t.Errorf("second decision: status %d, want 409 saying someone else changed it", second.Status)
	}
	if !strings.Contains(second.Body, "Not a customer") {
		t.Error("the conflict page lost the note that was typed")
	}
	got, _ := forms.NewStore(env.db).Get(t.Context(), r.ID)
	if got.State != forms.StateChangesRequested {
		t.Errorf("state = %s, want changes_requested (the first decision only)", got.State)
	}
	if n := env.auditCount("request.reject"); n != 0 {
		t.Errorf("request.reject rows = %d, want 0", n)
	}
}

func TestMarketplaceNeedsMeeting(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	c := env.client()
	c.signIn("ana@gatehouse.example", env.addStaff("ana@gatehouse.example", forms.RoleReviewer))
	r := env.seedRequest(seedOptions{Product: "marketplace"})

	if res := approve(t, c, r, ""); res.Status != http.StatusConflict || !strings.Contains(res.Body, "Record the configuration meeting") {
		t.Fatalf("approve without meeting: status %d", res.Status)
	}
	page := c.get("/staff/requests/" + r.ID)
	meeting := "/staff/requests/" + r.ID + "/meeting"
	res := c.post(meeting, url.Values{"version": {versionIn(t, page.Body, meeting)}, "meeting_on": {"2026-03-02"}, "meeting_note": {"Agreed the catalog scope"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("record meeting: status %d: %s", res.Status, res.Body)
	}
	if page := c.get("/staff/requests/" + r.ID).Body; !strings.Contains(page, "recorded by ana</p>") {
		t.Errorf("request page does not name ana as the one who recorded the meeting")
	}
	r, _ = forms.NewStore(env.db).Get(t.Context(), r.ID)
	if res := approve(t, c, r, ""); res.Status != http.StatusSeeOther {
		t.Fatalf("approve after meeting: status %d: %s", res.Status, res.Body)
	}
}

var staffTokenPattern = regexp.MustCompile(secrets.TokenPrefix + `[A-Za-z0-9_-]{43}`)

func TestQueueFiltersAndSearch(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	c := env.client()
	c.signIn("ana@gatehouse.example", env.addStaff("ana@gatehouse.example", forms.RoleReviewer))
	env.seedRequest(seedOptions{Company: "Globex Foods"})
	env.seedRequest(seedOptions{Company: "Initech", Product: "marketplace"})
	env.seedRequest(seedOptions{Company: "Umbrella Labs", State: forms.StateRejected})

	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"Globex Foods", "Initech"}},
		{"?product=marketplace", []string{"Initech"}},
		{"?q=glob", []string{"Globex Foods"}},
		{"?q=acme.example", []string{"Globex Foods", "Initech"}},
		{"?state=rejected", []string{"Umbrella Labs"}},
		{"?state=all&sort=newest", []string{"Umbrella Labs", "Initech", "Globex Foods"}},
	}
	for _, tt := range tests {
		res := c.get("/staff" + tt.query)
		if diff := cmp.Diff(tt.want, companiesIn(res.Body)); diff != "" || res.Status != http.StatusOK {
			t.Errorf("queue%s: status %d, companies (-want +got):\n%s", tt.query, res.Status, diff)
		}
	}
}

// companiesIn returns the seeded companies that a queue page lists, in
// the order it lists them.
func companiesIn(body string) []string {
	type hit struct {
		at   int
		name string
	}
	var hits []hit
	for _, name := range []string{"Globex Foods", "Initech", "Umbrella Labs"} {
		if i := strings.Index(body, "<td>"+name+"<br>"); i >= 0 {
			hits = append(hits, hit{i, name})
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].at < hits[j].at })
	var out []string
	for _, h := range hits {
		out = append(out, h.name)
	}
	return out
}

func TestTenantPageShowsSCIMLog(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	tenant, _ := env.tenantWithToken("logged-co")
	err := env.srv.tenants.AppendSCIMRequests(t.Context(), []tenants.SCIMRequest{
		{TenantID: tenant.ID, At: time.Now(), Method: "POST", Path: "/scim/v2/Users", Status: 409, SCIMType: "uniqueness",
			Detail: "userName is taken", RequestID: "req-123456789"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := env.client()
	c.signIn("ana@gatehouse.example", env.addStaff("ana@gatehouse.example", forms.RoleReviewer))
	res := c.get("/staff/tenants/logged-co")
	for _, want := range []string{"POST /scim/v2/Users", "uniqueness", "req-123456789"} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("tenant page lacks %q from the SCIM log", want)
		}
	}
}

func TestContactRotatesAndRevokes(t *testing.T) {
	t.Parallel()
	env := newStaffEnv(t)
	c := env.client()
	c.signIn("ana@gatehouse.example", env.addStaff("ana@gatehouse.example", forms.RoleReviewer))
	r := env.seedRequest(seedOptions{SCIM: true})
	if res := approve(t, c, r, ""); res.Status != http.StatusSeeOther {
		t.Fatalf("approve: status %d", res.Status)
	}
	first := env.revealLatest(r.ContactEmail)
	status := env.mailLink(r.ContactEmail, "/setup/status/")
	contact := env.client()

	page := contact.get(status)
	statusURL, err := url.Parse(status)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`action="` + statusURL.Path + `/token/rotate"`, `action="` + statusURL.Path + `/token/revoke"`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("status page lacks the form %s", want)
		}
	}

	if res := contact.post(status+"/token/rotate", nil); res.Status != http.StatusOK || !strings.Contains(res.Body, "Token rotated") {
		t.Fatalf("rotate: status %d", res.Status)
	}
	second := env.revealLatest(r.ContactEmail)
	env.assertAuthenticates(first, true, "old token in its grace period")
	env.assertAuthenticates(second, true, "rotated token")

	if res := contact.post(status+"/token/revoke", nil); res.Status != http.StatusUnprocessableEntity {
		t.Errorf("revoke without confirming: status %d, want 422", res.Status)
	}
	if res := contact.post(status+"/token/revoke", url.Values{"confirm": {"yes"}}); res.Status != http.StatusOK {
		t.Fatalf("revoke: status %d", res.Status)
	}
	env.assertAuthenticates(first, false, "old token after revoke")
	env.assertAuthenticates(second, false, "rotated token after revoke")
	if n := env.auditCount("token.revoke"); n != 2 {
		t.Errorf("token.revoke rows = %d, want 2", n)
	}
	assertNoPlaintext(t, env, first)
	assertNoPlaintext(t, env, second)
}

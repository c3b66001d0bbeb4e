package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// pageCheck is one response whose headers TestSecurityHeaders checks.
type pageCheck struct {
	name    string
	method  string
	path    string
	body    string
	header  http.Header
	status  int
	noStore bool
}

// TestSecurityHeaders checks every kind of response of a server whose base
// URL is https: HTML pages, the token reveal page, staff pages, health,
// metrics, SCIM, static files, a 404 and a rejected cross-origin post.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	masterKey := secrets.GenerateMasterKey()
	web, _ := newTestApp(t, db, map[string]string{
		"GATEHOUSE_BASE_URL": "https://sso.gatehouse.test", "GATEHOUSE_MASTER_KEY": masterKey,
	})
	_, revealLink := newDelivery(t, db, masterKey, "reveal-headers")
	email, password := addStaff(t, db, web.URL, "Header Staff")
	session := http.Header{"Cookie": {"gatehouse_session=" + signInStaff(t, web.URL, email, password).Value}}

	pages := []pageCheck{
		{name: "setup form", path: "/setup", status: 200},
		{name: "staff sign-in", path: "/staff/signin", status: 200, noStore: true},
		{name: "staff queue", path: "/staff", header: session, status: 200, noStore: true},
		{name: "staff outbox", path: "/staff/outbox", header: session, status: 200, noStore: true},
		{name: "tenant sign-in", path: "/login", status: 200},
		{name: "token reveal confirm", path: "/token/" + revealLink, status: 200, noStore: true},
		{name: "token reveal shown", method: "POST", path: "/token/" + revealLink, status: 200, noStore: true},
		{name: "token reveal unknown link", path: "/token/unknownlink0123456789abcdef", status: 404, noStore: true},
		{name: "healthz", path: "/healthz", status: 200},
		{name: "readyz", path: "/readyz", status: 200},
		{name: "metrics", path: "/metrics", status: 200},
		{name: "SCIM error", path: "/scim/v2/Users", status: 401},
		{name: "static file", path: "/static/style.css", status: 200},
		{name: "not found", path: "/no/such/page", status: 404},
		{name: "cross-origin post", method: "POST", path: "/setup", header: crossSite(), status: 403, noStore: true},
	}
	for _, p := range pages {
		method := p.method
		if method == "" {
			method = http.MethodGet
		}
		res := newTestClient(t, web.URL).request(method, p.path, p.body, p.header)
		if res.Status != p.status {
			t.Errorf("%s: status %d, want %d", p.name, res.Status, p.status)
		}
		checkSecurityHeaders(t, p.name, res.Header, true)
		if cc := res.Header.Get("Cache-Control"); p.noStore && !strings.Contains(cc, "no-store") {
			t.Errorf("%s: Cache-Control %q, want no-store", p.name, cc)
		}
	}
}

// TestNoHSTSOverHTTP checks that a server whose base URL is http sends no
// Strict-Transport-Security, which would break a plain-HTTP development
// setup, and the other headers all the same.
func TestNoHSTSOverHTTP(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	for _, path := range []string{"/setup", "/staff/signin", "/login", "/healthz", "/scim/v2/Users", "/no/such/page"} {
		res := newTestClient(t, ts.URL).get(path)
		checkSecurityHeaders(t, path, res.Header, false)
	}
}

// TestCrossOriginPosts checks that a browser's cross-site form post is
// rejected on the portal's forms and passes through to the two endpoints
// that third parties post to: the SAML ACS and SCIM.
func TestCrossOriginPosts(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	tests := []struct {
		name, path, body string
		header           http.Header
		rejected         bool
	}{
		{name: "setup form cross-site", path: "/setup", body: "company_name=Evil", header: join(crossSite(), form), rejected: true},
		{name: "setup form with a foreign Origin only", path: "/setup", body: "company_name=Evil",
			header: join(http.Header{"Origin": {"https://evil.example"}}, form), rejected: true},
		{name: "staff sign-in cross-site", path: "/staff/signin", body: "email=a%40b.example&password=x", header: join(crossSite(), form), rejected: true},
		{name: "tenant sign-in cross-site", path: "/login", body: "email=a%40b.example&password=x", header: join(crossSite(), form), rejected: true},
		{name: "setup form same-origin", path: "/setup", body: "company_name=Fine",
			header: join(http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {ts.URL}}, form)},
		{name: "SAML ACS cross-site", path: "/saml/acme/acs", body: "SAMLResponse=PHNhbWw%2B", header: join(crossSite(), form)},
		{name: "SCIM create cross-site", path: "/scim/v2/Users", body: scimUserJSON("x@y.example"),
			header: join(crossSite(), http.Header{"Content-Type": {"application/scim+json"}})},
	}
	for _, tt := range tests {
		res := newTestClient(t, ts.URL).request(http.MethodPost, tt.path, tt.body, tt.header)
		if tt.rejected && res.Status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", tt.name, res.Status)
		}
		if !tt.rejected && (res.Status == http.StatusForbidden || strings.Contains(res.Body, "posted from another site")) {
			t.Errorf("%s: status %d, want it let through: %.200s", tt.name, res.Status, res.Body)
		}
	}

	rejected := 0
	for _, line := range logLines(t, ts.Logs) {
		if line["msg"] == "http_request" && line["status"] == float64(http.StatusForbidden) {
			rejected++
		}
	}
	if rejected != 4 {
		t.Errorf("%d access log lines with status 403, want 4 (each rejected post logged)", rejected)
	}
}

// crossSite is what a browser sends with a form posted from another site.
func crossSite() http.Header {
	return http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
}

func join(headers ...http.Header) http.Header {
	out := http.Header{}
	for _, h := range headers {
		for name, values := range h {
			out[name] = append(out[name], values...)
		}
	}
	return out
}

var maxAgePattern = regexp.MustCompile(`max-age=(\d+)`)

// checkSecurityHeaders checks the headers every response carries, and HSTS
// for at least a year when hsts is set and none otherwise.
func checkSecurityHeaders(t *testing.T, what string, h http.Header, hsts bool) {
	t.Helper()
	csp := parseCSP(h.Get("Content-Security-Policy"))
	script, ok := csp["script-src"]
	if !ok {
		script, ok = csp["default-src"]
	}
	switch {
	case !ok:
		t.Errorf("%s: Content-Security-Policy %q has neither script-src nor default-src", what, h.Get("Content-Security-Policy"))
	case strings.Contains(script, "'unsafe-inline'") || strings.Contains(script, "'unsafe-eval'"):
		t.Errorf("%s: script sources %q allow inline script or eval", what, script)
	}
	if got := csp["frame-ancestors"]; got != "'none'" {
		t.Errorf("%s: frame-ancestors %q, want 'none'", what, got)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q, want nosniff", what, got)
	}
	if got := h.Get("Referrer-Policy"); got != "same-origin" && got != "no-referrer" {
		t.Errorf("%s: Referrer-Policy %q, want same-origin or no-referrer", what, got)
	}

	sts := h.Get("Strict-Transport-Security")
	if !hsts {
		if sts != "" {
			t.Errorf("%s: Strict-Transport-Security %q on an http base URL, want none", what, sts)
		}
		return
	}
	m := maxAgePattern.FindStringSubmatch(sts)
	if m == nil {
		t.Errorf("%s: Strict-Transport-Security %q, want max-age", what, sts)
		return
	}
	if age, _ := strconv.Atoi(m[1]); age < 365*24*3600 {
		t.Errorf("%s: Strict-Transport-Security max-age %d, want at least a year", what, age)
	}
}

// parseCSP returns a policy's directives by name, with their sources.
func parseCSP(policy string) map[string]string {
	directives := map[string]string{}
	for _, d := range strings.Split(policy, ";") {
		name, sources, _ := strings.Cut(strings.TrimSpace(d), " ")
		if name != "" {
			directives[strings.ToLower(name)] = strings.TrimSpace(sources)
		}
	}
	return directives
}

// newDelivery seals a new token of a new tenant into a delivery under
// masterKey and returns the delivery's ID and its reveal link's secret.
func newDelivery(t *testing.T, db *sqlx.DB, masterKey, slug string) (string, string) {
	t.Helper()
	key, err := secrets.ParseMasterKey(masterKey)
	if err != nil {
		t.Fatal(err)
	}
	tenant, token := newSCIMTenant(t, db, slug)
	var tokenID string
	if err := db.Get(&tokenID, `SELECT id FROM scim_tokens WHERE tenant_id = $1`, tenant.ID); err != nil {
		t.Fatal(err)
	}
	d, link, err := tenants.NewStore(db).CreateDelivery(t.Context(), secrets.NewKeyring(key), tenant.ID, tokenID, secrets.Token(token), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return d.ID, url.PathEscape(link.Reveal())
}

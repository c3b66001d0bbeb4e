package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/forms"
	"github.com/gatehouse-dev/gatehouse/mail"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

func TestReadyzDatabaseDropped(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	checkHealth(t, ts.URL, http.StatusOK, "ready")

	u, err := url.Parse(ts.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := database.Open(t.Context(), pgtest.ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := strings.TrimPrefix(u.Path, "/")
	if _, err := admin.ExecContext(t.Context(), fmt.Sprintf("DROP DATABASE %s WITH (FORCE)", name)); err != nil {
		t.Fatalf("drop the server's database: %v", err)
	}

	checkHealth(t, ts.URL, http.StatusServiceUnavailable, "database unreachable")
}

func TestReadyzMigrationsPending(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	if _, err := db.ExecContext(t.Context(), `
		DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`); err != nil {
		t.Fatal(err)
	}
	web, _ := newTestApp(t, db, nil)

	checkHealth(t, web.URL, http.StatusServiceUnavailable, "migrations pending")
}

func TestReadyzDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	db, err := sqlx.Open("postgres", "postgres://gatehouse@"+closed+"/gatehouse?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	web, _ := newTestApp(t, db, nil)

	start := time.Now()
	checkHealth(t, web.URL, http.StatusServiceUnavailable, "database unreachable")
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("/readyz took %v with the database down, want under 3 s", elapsed)
	}
}

// checkHealth checks that /healthz is 200 and that /readyz has the status
// and, in its JSON body, the status or reason want.
func checkHealth(t *testing.T, base string, readyStatus int, want string) {
	t.Helper()
	c := newTestClient(t, base)
	if res := c.get("/healthz"); res.Status != http.StatusOK {
		t.Errorf("GET /healthz: status %d, want 200", res.Status)
	}
	res := c.get("/readyz")
	if res.Status != readyStatus {
		t.Errorf("GET /readyz: status %d, want %d: %s", res.Status, readyStatus, res.Body)
	}
	var body struct{ Status, Reason string }
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatalf("GET /readyz: body is not JSON: %v: %s", err, res.Body)
	}
	if body.Status != want && body.Reason != want {
		t.Errorf("GET /readyz: body %s, want status or reason %q", res.Body, want)
	}
}

// loggedRequest is one request of TestAccessLogAndMetrics and the access
// log line it should produce.
type loggedRequest struct {
	method, path, body string
	header             http.Header
	route              string
	status             int
	tenant             string
}

// TestAccessLogAndMetrics sends requests that carry secrets in the path,
// query, cookies, headers and form, and checks the access log line of each
// and that no secret reaches the log or the metrics.
func TestAccessLogAndMetrics(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	tenant, token := newSCIMTenant(t, ts.DB, "observed")
	staffEmail, password := addStaff(t, ts.DB, ts.URL, "Observed Staff")
	cookie := signInStaff(t, ts.URL, staffEmail, password)
	_, passwordLink, err := forms.NewStaffStore(ts.DB).Add(t.Context(), "second@gatehouse.test", "Second", forms.RoleReviewer)
	if err != nil {
		t.Fatal(err)
	}
	unknownID := "0b7c7ad4-57a9-4f3e-9a55-4c1de1f1e0a1"
	secretValues := map[string]string{
		"SCIM token":         token,
		"session cookie":     cookie.Value,
		"password":           password,
		"wrong password":     "wrong-password-4f1d2",
		"password link":      passwordLink.Reveal(),
		"reveal link":        "revealsecret7c1e9d0b6a2f4e8c",
		"query value":        "querysecret93ab17",
		"filter userName":    "filtered.person@observed.example",
		"unknown bearer":     "gh_scim_notarealtoken0000000000000000000000000",
		"id in path":         unknownID,
		"cookie of no use":   "cookiesecret55e0",
		"status link secret": "statussecret0f9e8d7c",
	}
	scimAuth := http.Header{"Authorization": {"Bearer " + token}}
	requests := []loggedRequest{
		{method: "GET", path: "/setup?token=" + secretValues["query value"], route: "/setup", status: 200},
		{method: "GET", path: "/staff", header: http.Header{"Cookie": {"gatehouse_session=" + cookie.Value}}, route: "/staff", status: 200},
		{method: "GET", path: "/staff", header: http.Header{"Cookie": {"gatehouse_session=" + secretValues["cookie of no use"]}}, route: "/staff", status: 303},
		{method: "POST", path: "/staff/signin", body: url.Values{"email": {staffEmail}, "password": {secretValues["wrong password"]}}.Encode(),
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, route: "/staff/signin", status: 401},
		{method: "GET", path: "/staff/password/" + passwordLink.Reveal(), route: "/staff/password/:secret", status: 200},
		{method: "GET", path: "/token/" + secretValues["reveal link"], route: "/token/:secret", status: 404},
		{method: "GET", path: "/setup/status/" + secretValues["status link secret"], route: "/setup/status/:secret", status: 404},
		{method: "GET", path: "/scim/v2/Users?filter=" + url.QueryEscape(`userName eq "`+secretValues["filter userName"]+`"`), header: scimAuth,
			route: "/scim/v2/*path", status: 200, tenant: tenant.Slug},
		{method: "GET", path: "/scim/v2/Users/" + unknownID, header: scimAuth, route: "/scim/v2/*path", status: 404, tenant: tenant.Slug},
		{method: "GET", path: "/scim/v2/Users", header: http.Header{"Authorization": {"Bearer " + secretValues["unknown bearer"]}}, route: "/scim/v2/*path", status: 401},
		{method: "GET", path: "/no/such/page/" + unknownID, route: "unmatched", status: 404},
		{method: "GET", path: "/healthz", route: "/healthz", status: 200},
	}

	ids := sendLoggedRequests(t, ts.URL, requests)
	checkAccessLog(t, ts.Logs, requests, ids)
	logs := ts.Logs.String()
	for name, value := range secretValues {
		if strings.Contains(logs, value) {
			t.Errorf("the log contains the %s %q", name, value)
		}
	}

	for i := range 2 {
		m := mail.Message{Kind: "observability_test", To: fmt.Sprintf("o%d@example.test", i), Subject: "Waiting", Text: "Hello."}
		if _, err := mail.Enqueue(t.Context(), ts.DB, m); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(10 * time.Millisecond) // so the oldest pending mail has an age above zero
	families, text := scrapeMetrics(t, ts.URL)
	checkRouteLabels(t, families, []string{"/scim/v2/*path", "/token/:secret", "/staff/password/:secret", "/setup/status/:secret", "unmatched"})
	for name, value := range secretValues {
		if strings.Contains(text, value) {
			t.Errorf("/metrics contains the %s %q", name, value)
		}
	}
	checkOutboxGauges(t, ts.DB, families)
	for _, name := range []string{"gatehouse_http_request_duration_seconds", "gatehouse_db_connections_open", "gatehouse_db_connections_in_use"} {
		if families[name] == nil {
			t.Errorf("/metrics has no %s", name)
		}
	}
}

// sendLoggedRequests sends each request with an X-Request-ID of its own,
// checks its status and returns the IDs in order.
func sendLoggedRequests(t *testing.T, base string, requests []loggedRequest) []string {
	t.Helper()
	ids := make([]string, len(requests))
	for i, r := range requests {
		ids[i] = fmt.Sprintf("observed-%02d-%d", i, time.Now().UnixNano())
		header := http.Header{"X-Request-Id": {ids[i]}}
		maps.Copy(header, r.header)
		res := newTestClient(t, base).request(r.method, r.path, r.body, header)
		if res.Status != r.status {
			t.Errorf("%s %s: status %d, want %d", r.method, r.route, res.Status, r.status)
		}
		if got := res.Header.Get("X-Request-ID"); got != ids[i] {
			t.Errorf("%s %s: X-Request-ID %q, want the incoming %q", r.method, r.route, got, ids[i])
		}
	}
	return ids
}

// checkAccessLog checks that each request has exactly one http_request
// line with its request ID, route template, status, latency and tenant.
func checkAccessLog(t *testing.T, logs *syncBuffer, requests []loggedRequest, ids []string) {
	t.Helper()
	byID := map[string][]map[string]any{}
	for _, line := range logLines(t, logs) {
		if line["msg"] == "http_request" {
			id, _ := line["request_id"].(string)
			byID[id] = append(byID[id], line)
		}
	}
	for i, r := range requests {
		lines := byID[ids[i]]
		if len(lines) != 1 {
			t.Errorf("%s %s: %d access log lines, want 1", r.method, r.route, len(lines))
			continue
		}
		line := lines[0]
		got := map[string]any{"method": line["method"], "route": line["route"], "status": line["status"], "tenant": line["tenant"]}
		want := map[string]any{"method": r.method, "route": r.route, "status": float64(r.status), "tenant": r.tenant}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s %s: access log line (-want +got):\n%s", r.method, r.route, diff)
		}
		if latency, ok := line["latency_ms"].(float64); !ok || latency < 0 {
			t.Errorf("%s %s: latency_ms %v, want a number of milliseconds", r.method, r.route, line["latency_ms"])
		}
	}
}

func scrapeMetrics(t *testing.T, base string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	res := newTestClient(t, base).get("/metrics")
	if res.Status != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", res.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(res.Body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families, res.Body
}

// templatePattern matches a route label: a gin route template or
// "unmatched". A segment of 16 or more letters and digits would be an ID
// or a secret, not a template.
var templatePattern = regexp.MustCompile(`^(unmatched|(/([A-Za-z0-9._-]{0,15}|:[a-z]+|\*[a-z]+))+)$`)

// checkRouteLabels checks that gatehouse_http_requests_total counts
// requests by route template, with each route in want present.
func checkRouteLabels(t *testing.T, families map[string]*dto.MetricFamily, want []string) {
	t.Helper()
	family := families["gatehouse_http_requests_total"]
	if family == nil {
		t.Fatal("/metrics has no gatehouse_http_requests_total")
	}
	routes := map[string]bool{}
	for _, m := range family.GetMetric() {
		for _, label := range m.GetLabel() {
			if label.GetName() != "route" {
				continue
			}
			routes[label.GetValue()] = true
			if !templatePattern.MatchString(label.GetValue()) {
				t.Errorf("gatehouse_http_requests_total has route %q, want a route template", label.GetValue())
			}
		}
	}
	for _, route := range want {
		if !routes[route] {
			t.Errorf("gatehouse_http_requests_total has no route %q", route)
		}
	}
}

// checkOutboxGauges compares the outbox gauges with the outbox table.
func checkOutboxGauges(t *testing.T, db *sqlx.DB, families map[string]*dto.MetricFamily) {
	t.Helper()
	stats, err := mail.Stats(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	gauge := func(name string) float64 {
		family := families[name]
		if family == nil || len(family.GetMetric()) != 1 {
			t.Errorf("/metrics has no single %s", name)
			return -1
		}
		return family.GetMetric()[0].GetGauge().GetValue()
	}
	if got := gauge("gatehouse_outbox_pending"); got != float64(stats.Pending) || got < 2 {
		t.Errorf("gatehouse_outbox_pending = %v, want %d (the outbox table) and at least 2", got, stats.Pending)
	}
	if got := gauge("gatehouse_outbox_dead"); got != 0 {
		t.Errorf("gatehouse_outbox_dead = %v, want 0", got)
	}
	if got := gauge("gatehouse_outbox_oldest_pending_age_seconds"); got <= 0 || got > 60 {
		t.Errorf("gatehouse_outbox_oldest_pending_age_seconds = %v, want above 0 and under a minute", got)
	}
}

// newTestApp wires the program on db with a production configuration and
// serves its handler on loopback, without the background jobs. env
// overrides settings. DATABASE_URL is not used, since db is given.
func newTestApp(t *testing.T, db *sqlx.DB, env map[string]string) (*httptest.Server, *syncBuffer) {
	t.Helper()
	settings := map[string]string{
		"GATEHOUSE_ENV":        "production",
		"DATABASE_URL":         "postgres://unused",
		"GATEHOUSE_ADDR":       "127.0.0.1:0",
		"GATEHOUSE_BASE_URL":   "http://127.0.0.1",
		"GATEHOUSE_MASTER_KEY": secrets.GenerateMasterKey(),
	}
	maps.Copy(settings, env)
	cfg, err := loadConfig(func(k string) string { return settings[k] }, needDatabase|needServer)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	logs := &syncBuffer{}
	a, err := newApp(cfg, db, newLogger(cfg, logs))
	if err != nil {
		t.Fatalf("new app: %v", err)
	}
	web := httptest.NewServer(a.handler)
	t.Cleanup(func() {
		web.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.scim.Close(ctx); err != nil {
			t.Logf("flush SCIM writes: %v", err)
		}
	})
	return web, logs
}

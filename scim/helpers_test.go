package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"golang.org/x/time/rate"

	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// testServer is a SCIM server on port 0 with one tenant and its token.
type testServer struct {
	t      *testing.T
	db     *sqlx.DB
	srv    *Server
	http   *httptest.Server
	tenant tenants.Tenant
	token  string
}

func newTestServer(t *testing.T, settings tenants.Settings) *testServer {
	t.Helper()
	db := pgtest.New(t)
	srv, err := New(Config{DB: db, BaseURL: "https://gatehouse.example.com", RateLimit: rate.Inf})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, db: db, srv: srv, http: httptest.NewServer(srv.Handler())}
	t.Cleanup(func() {
		ts.http.Close()
		srv.Close(context.Background())
	})
	settings.SCIM = true
	ts.tenant, ts.token = ts.addTenant("acme", settings)
	return ts
}

func (ts *testServer) addTenant(slug string, settings tenants.Settings) (tenants.Tenant, string) {
	ts.t.Helper()
	store := tenants.NewStore(ts.db)
	tenant, err := store.Create(context.Background(), tenants.Tenant{Slug: slug, Name: strings.ToUpper(slug[:1]) + slug[1:] + " Inc", Product: tenants.MealProgram, Settings: settings})
	if err != nil {
		ts.t.Fatal(err)
	}
	token, _, err := store.IssueToken(context.Background(), tenant.ID)
	if err != nil {
		ts.t.Fatal(err)
	}
	return tenant, token.Reveal()
}

// response is an HTTP response with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// do sends a request with the tenant's token; body is JSON text or "".
func (ts *testServer) do(method, path, body string) response {
	ts.t.Helper()
	return ts.doWith(ts.token, method, path, body, nil)
}

func (ts *testServer) doWith(token, method, path, body string, header map[string]string) response {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.http.URL+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := ts.http.Client().Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	io.Copy(&buf, resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}
}

// expect fails the test unless the response has the status.
func (r response) expect(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body: %s", r.status, status, r.body)
	}
	return r
}

func q(filter string) string { return url.QueryEscape(filter) }

func tenantsSettings() tenants.Settings { return tenants.Settings{} }

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

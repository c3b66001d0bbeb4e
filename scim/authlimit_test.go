package scim

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/time/rate"

	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// TestAuthFailureLimit checks that a client address that keeps sending
// unknown tokens gets 429 with Retry-After and no database lookup, while
// the tenant's cached token and other addresses go on working.
func TestAuthFailureLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	srv, err := New(Config{DB: ts.db, BaseURL: "https://gatehouse.example.com", RateLimit: rate.Inf,
		AuthFailureLimit: rate.Every(time.Hour), AuthFailureBurst: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	send := func(token, addr string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/scim/v2/Users", nil)
		req.RemoteAddr = addr
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec
	}
	const attacker, other = "203.0.113.7:40000", "198.51.100.9:40000"
	guess := "gh_scim_" + randomHex(t, 40)

	if got := send(ts.token, attacker).Code; got != http.StatusOK {
		t.Fatalf("valid token = %d, want 200", got)
	}
	for i := range 3 {
		if got := send(guess, attacker).Code; got != http.StatusUnauthorized {
			t.Errorf("guess %d = %d, want 401", i+1, got)
		}
	}
	blocked := send(guess, attacker)
	if blocked.Code != http.StatusTooManyRequests {
		t.Fatalf("guess 4 = %d, want 429; body %s", blocked.Code, blocked.Body)
	}
	if got := blocked.Header().Get("Retry-After"); got != "3600" {
		t.Errorf("Retry-After = %q, want 3600", got)
	}
	body := response{status: blocked.Code, body: blocked.Body.Bytes()}.json(t)
	if body["status"] != "429" || body["schemas"].([]any)[0] != errorSchema {
		t.Errorf("429 body = %v, want a SCIM error", body)
	}

	if got := send(ts.token, attacker).Code; got != http.StatusOK {
		t.Errorf("cached valid token from the blocked address = %d, want 200", got)
	}
	if got := send(guess, other).Code; got != http.StatusUnauthorized {
		t.Errorf("guess from another address = %d, want 401", got)
	}

	// With the database gone, a lookup would fail with 500: a 429 shows
	// the blocked guess never reached it.
	ts.db.Close()
	if got := send("gh_scim_"+randomHex(t, 40), attacker).Code; got != http.StatusTooManyRequests {
		t.Errorf("guess with the database closed = %d, want 429 without a lookup", got)
	}
}

// TestAuthSuccessesNotCounted checks that tokens looked up and found valid
// do not use up their address's failures.
func TestAuthSuccessesNotCounted(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	srv, err := New(Config{DB: ts.db, BaseURL: "https://gatehouse.example.com", RateLimit: rate.Inf,
		AuthFailureLimit: rate.Every(time.Hour), AuthFailureBurst: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	store := tenants.NewStore(ts.db)
	for i := range 5 {
		token, _, err := store.IssueToken(context.Background(), ts.tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/scim/v2/ServiceProviderConfig", nil)
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("new valid token %d = %d, want 200", i+1, rec.Code)
		}
	}
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		req := httptest.NewRequest("GET", "/scim/v2/Users", nil)
		req.Header.Set("Authorization", "Bearer wrong")
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("failure %d = %d, want %d", i+1, rec.Code, want)
		}
	}
}

func TestAuthLimitersEvictIdle(t *testing.T) {
	t.Parallel()
	l := newAuthLimiters(rate.Every(time.Second), 2)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		if _, _, ok := l.begin(fmt.Sprintf("192.0.2.%d", i), start); !ok {
			t.Fatalf("first failure of address %d was rejected", i)
		}
	}
	if len(l.byAddr) != 100 {
		t.Fatalf("%d limiters after 100 addresses, want 100", len(l.byAddr))
	}
	l.begin("198.51.100.1", start.Add(authSweepInterval))
	if len(l.byAddr) != 1 {
		t.Errorf("%d limiters after the idle ones refilled, want 1", len(l.byAddr))
	}
}

func TestAuthLimitersBounded(t *testing.T) {
	t.Parallel()
	l := newAuthLimiters(rate.Every(time.Hour), 1)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxAuthLimiters {
		l.begin(fmt.Sprintf("addr-%d", i), now)
	}
	if _, _, ok := l.begin("one more", now); !ok {
		t.Error("the first address beyond the limit was rejected; want it to share the overflow limiter")
	}
	if _, _, ok := l.begin("and another", now); ok {
		t.Error("the second address beyond the limit was allowed; want the shared overflow limiter empty")
	}
	if len(l.byAddr) != maxAuthLimiters {
		t.Errorf("%d limiters, want at most %d", len(l.byAddr), maxAuthLimiters)
	}
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, remote, forwarded, want string
	}{
		{name: "IPv4 peer", remote: "203.0.113.7:40000", want: "203.0.113.7"},
		{name: "IPv6 peer counts by /64", remote: "[2001:db8:1:2:3:4:5:6]:443", want: "2001:db8:1:2::/64"},
		{name: "IPv4-mapped IPv6 peer", remote: "[::ffff:203.0.113.7]:443", want: "203.0.113.7"},
		{name: "address from the proxy middleware", remote: "10.0.0.1:5000", forwarded: "198.51.100.9", want: "198.51.100.9"},
		{name: "peer that is not an IP", remote: "pipe", want: "pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/scim/v2/Users", nil)
			req.RemoteAddr = tt.remote
			if tt.forwarded != "" {
				req = req.WithContext(WithClientAddr(req.Context(), tt.forwarded))
			}
			if diff := cmp.Diff(tt.want, clientAddr(req)); diff != "" {
				t.Errorf("clientAddr (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAuthReloadNotLimited checks that a valid token whose cache entry has
// gone stale is looked up again even from an address that used up its
// failures, and that a token found revoked then loses that exemption.
func TestAuthReloadNotLimited(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srv, err := New(Config{DB: ts.db, BaseURL: "https://gatehouse.example.com", RateLimit: rate.Inf,
		AuthFailureLimit: rate.Every(time.Hour), AuthFailureBurst: 1, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	send := func(token string) int {
		req := httptest.NewRequest("GET", "/scim/v2/ServiceProviderConfig", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec.Code
	}

	if got := send(ts.token); got != http.StatusOK {
		t.Fatalf("valid token = %d, want 200", got)
	}
	send("wrong")
	if got := send("wrong"); got != http.StatusTooManyRequests {
		t.Fatalf("second failure = %d, want 429", got)
	}
	now = now.Add(tokenCacheTTL + time.Second)
	if got := send(ts.token); got != http.StatusOK {
		t.Errorf("valid token with a stale cache entry = %d, want 200", got)
	}

	now = now.Add(tokenCacheTTL + time.Second)
	if _, err := ts.db.Exec(`UPDATE scim_tokens SET revoked_at = now() WHERE tenant_id = $1`, ts.tenant.ID); err != nil {
		t.Fatal(err)
	}
	if got := send(ts.token); got != http.StatusUnauthorized {
		t.Errorf("revoked token with a stale cache entry = %d, want 401", got)
	}
	if got := send(ts.token); got != http.StatusTooManyRequests {
		t.Errorf("revoked token after its lookup = %d, want 429", got)
	}
}

// TestAuthParallelFirstRequests checks that an IdP opening with many
// parallel requests on a token the server has not cached yet is not
// held back, however small the bucket.
func TestAuthParallelFirstRequests(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	srv, err := New(Config{DB: ts.db, BaseURL: "https://gatehouse.example.com", RateLimit: rate.Inf,
		AuthFailureLimit: rate.Every(time.Hour), AuthFailureBurst: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			req := httptest.NewRequest("GET", "/scim/v2/ServiceProviderConfig", nil)
			req.Header.Set("Authorization", "Bearer "+ts.token)
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Errorf("request %d = %d, want 200", i+1, rec.Code)
			}
		})
	}
	wg.Wait()
}

// TestAuthFailureLimitSharedAddress checks that an attacker who shares
// an IdP's address, as customers of one cloud IdP share its egress
// addresses, cannot lock out the IdP's valid token by using up the
// address's failures before the server has cached that token.
func TestAuthFailureLimitSharedAddress(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	srv, err := New(Config{DB: ts.db, BaseURL: "https://gatehouse.example.com", RateLimit: rate.Inf,
		AuthFailureLimit: rate.Every(time.Hour), AuthFailureBurst: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	send := func(token string) int {
		req := httptest.NewRequest("GET", "/scim/v2/Users", nil)
		req.RemoteAddr = "203.0.113.7:40000"
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	store := tenants.NewStore(ts.db)
	revoked, rec, err := store.IssueToken(context.Background(), ts.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.RevokeToken(context.Background(), ts.tenant.ID, rec.ID); err != nil {
		t.Fatal(err)
	}

	guess := "gh_scim_" + randomHex(t, 40)
	for range 3 {
		send(guess)
	}
	if got := send(guess); got != http.StatusTooManyRequests {
		t.Fatalf("guess after the burst = %d, want 429", got)
	}

	if got := send(ts.token); got != http.StatusOK {
		t.Errorf("valid token from the blocked address = %d, want 200", got)
	}
	if got := send("gh_scim_" + randomHex(t, 40)); got != http.StatusTooManyRequests {
		t.Errorf("new guess after the valid token = %d, want 429", got)
	}
	if got := send(revoked.Reveal()); got != http.StatusTooManyRequests {
		t.Errorf("revoked token from the blocked address = %d, want 429", got)
	}
}

// TestAuthKnownTokenRevoked checks that a token revoked after the set of
// known tokens was loaded gets one lookup from a blocked address, and 429
// without a lookup after that.
func TestAuthKnownTokenRevoked(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, tenantsSettings())
	srv, err := New(Config{DB: ts.db, BaseURL: "https://gatehouse.example.com", RateLimit: rate.Inf,
		AuthFailureLimit: rate.Every(time.Hour), AuthFailureBurst: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	send := func(token string) int {
		req := httptest.NewRequest("GET", "/scim/v2/ServiceProviderConfig", nil)
		req.RemoteAddr = "203.0.113.7:40000"
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	store := tenants.NewStore(ts.db)
	token, rec, err := store.IssueToken(context.Background(), ts.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}

	// Well-formed guesses, so the blocked one loads the set of known
	// tokens while the token is still active.
	guess := secrets.TokenPrefix + randomHex(t, 44)[:43]
	send(guess)
	if got := send(guess); got != http.StatusTooManyRequests {
		t.Fatalf("guess after the burst = %d, want 429", got)
	}
	if err := store.RevokeToken(context.Background(), ts.tenant.ID, rec.ID); err != nil {
		t.Fatal(err)
	}
	if got := send(token.Reveal()); got != http.StatusUnauthorized {
		t.Errorf("revoked known token, first request = %d, want 401 from a lookup", got)
	}
	if got := send(token.Reveal()); got != http.StatusTooManyRequests {
		t.Errorf("revoked known token, second request = %d, want 429", got)
	}
}

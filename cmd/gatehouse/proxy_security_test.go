package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// TestForwardedForNeedsTrustedProxy checks that X-Forwarded-For names the
// client only when the TCP peer is a configured proxy, and that X-Real-IP
// never does. gin believes the
// header from any peer by default, so a client could pick a new address
// for every request: every per-address rate limit (setup form, links,
// sign-in) was void, and the audit trail recorded the address the client
// chose.
func TestForwardedForNeedsTrustedProxy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		proxies string
		header  string
		want    string
	}{
		{name: "no trusted proxy", proxies: "", header: "X-Forwarded-For", want: "127.0.0.1"},
		{name: "loopback is the proxy", proxies: "10.0.0.0/8, 127.0.0.1", header: "X-Forwarded-For", want: "203.0.113.9"},
		{name: "X-Real-IP from the proxy", proxies: "127.0.0.1", header: "X-Real-IP", want: "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base, db := startServerWithProxies(t, tt.proxies)
			form := url.Values{"email": {"nobody@example.com"}, "password": {"wrong password"}}
			req, _ := http.NewRequest(http.MethodPost, base+"/staff/signin", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(tt.header, "203.0.113.9")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()

			var got string
			if err := db.GetContext(t.Context(), &got, `SELECT client_ip FROM audit_log WHERE action = 'staff.signin_failed'`); err != nil {
				t.Fatalf("read the audit row: %v", err)
			}
			if got != tt.want {
				t.Errorf("audited client address = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestForwardedForCannotSkipRateLimit checks that a client who sends a new
// X-Forwarded-For address with each request still runs into the
// per-address limit of the link re-send form (5 requests).
func TestForwardedForCannotSkipRateLimit(t *testing.T) {
	t.Parallel()
	base, _ := startServerWithProxies(t, "")
	limited := false
	for i := range 8 {
		form := url.Values{"email": {fmt.Sprintf("contact%d@example.com", i)}}
		req, _ := http.NewRequest(http.MethodPost, base+"/setup/resend", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		limited = limited || res.StatusCode == http.StatusTooManyRequests
	}
	if !limited {
		t.Error("8 re-sends with changing X-Forwarded-For were all accepted, want 429 after 5")
	}
}

// TestTrustedProxiesConfig checks that GATEHOUSE_TRUSTED_PROXIES takes
// addresses and CIDR ranges and names itself when a value is neither.
func TestTrustedProxiesConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"DATABASE_URL":              "postgres://u:p@localhost/db",
		"GATEHOUSE_BASE_URL":        "https://sso.example.com",
		"GATEHOUSE_MASTER_KEY":      secrets.GenerateMasterKey(),
		"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7,,2001:db8::/32",
	}
	cfg, err := loadConfig(func(k string) string { return env[k] }, needDatabase|needServer)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if got := strings.Join(cfg.TrustedProxies, " "); got != "10.0.0.0/8 192.0.2.7 2001:db8::/32" {
		t.Errorf("TrustedProxies = %q", got)
	}

	env["GATEHOUSE_TRUSTED_PROXIES"] = "10.0.0.0/8,load-balancer"
	_, err = loadConfig(func(k string) string { return env[k] }, needDatabase|needServer)
	if err == nil || !strings.Contains(err.Error(), `GATEHOUSE_TRUSTED_PROXIES: "load-balancer"`) {
		t.Errorf("loadConfig with a host name = %v, want an error naming GATEHOUSE_TRUSTED_PROXIES and the value", err)
	}
}

// startServerWithProxies runs serve, like startServer, with
// GATEHOUSE_TRUSTED_PROXIES set to proxies.
func startServerWithProxies(t *testing.T, proxies string) (string, *sqlx.DB) {
	t.Helper()
	db, dbURL := pgtest.NewWithURL(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	env := map[string]string{
		"GATEHOUSE_ENV": "production", "DATABASE_URL": dbURL, "GATEHOUSE_ADDR": ln.Addr().String(),
		"GATEHOUSE_BASE_URL": base, "GATEHOUSE_MASTER_KEY": secrets.GenerateMasterKey(),
		"GATEHOUSE_TRUSTED_PROXIES": proxies,
	}
	cfg, err := loadConfig(func(k string) string { return env[k] }, needDatabase|needServer)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, ln, newLogger(cfg, &syncBuffer{})) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	waitReady(t, base)
	return base, db
}

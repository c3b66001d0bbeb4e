package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// serverOptions configures startServer. Zero values give a development
// server on a fresh database with mail kept in the outbox.
type serverOptions struct {
	DatabaseURL string // empty: a fresh database from pgtest
	MasterKey   string // empty: a new random key
	SMTPURL     string
	MailFrom    string
}

// testServer is the whole program, as `gatehouse serve` runs it, on a
// loopback port chosen by the kernel.
type testServer struct {
	URL         string
	DB          *sqlx.DB
	DatabaseURL string
	MasterKey   string
	Logs        *syncBuffer

	stop func()
	done chan error
}

// startServer starts serve on 127.0.0.1:0 and stops it when the test ends.
func startServer(t *testing.T, opts serverOptions) *testServer {
	t.Helper()
	ts := &testServer{DatabaseURL: opts.DatabaseURL, MasterKey: opts.MasterKey, Logs: &syncBuffer{}, done: make(chan error, 1)}
	if ts.DatabaseURL == "" {
		ts.DB, ts.DatabaseURL = pgtest.NewWithURL(t)
	} else {
		db, err := database.Open(context.Background(), ts.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		ts.DB = db
	}
	if ts.MasterKey == "" {
		ts.MasterKey = secrets.GenerateMasterKey()
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.URL = "http://" + ln.Addr().String()
	env := map[string]string{
		"GATEHOUSE_ENV":        "production",
		"DATABASE_URL":         ts.DatabaseURL,
		"GATEHOUSE_ADDR":       ln.Addr().String(),
		"GATEHOUSE_BASE_URL":   ts.URL,
		"GATEHOUSE_MASTER_KEY": ts.MasterKey,
		"SMTP_URL":             opts.SMTPURL,
		"MAIL_FROM":            opts.MailFrom,
	}
	cfg, err := loadConfig(func(k string) string { return env[k] }, needDatabase|needServer)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	ts.stop = cancel
	go func() { ts.done <- serve(ctx, cfg, ln, newLogger(cfg, ts.Logs)) }()
	t.Cleanup(func() { ts.Stop(t) })
	waitReady(t, ts.URL)
	return ts
}

// Stop shuts the server down as SIGTERM would and checks it exited cleanly.
func (ts *testServer) Stop(t *testing.T) {
	if ts.stop == nil {
		return
	}
	ts.stop()
	ts.stop = nil
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("serve did not stop within 30 s")
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server at %s not ready within 15 s", base)
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

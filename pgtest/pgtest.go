// Package pgtest gives each test its own migrated PostgreSQL database, so
// tests run in parallel without sharing state.
//
// DATABASE_URL names a server and a user that may create databases. The
// first call in a test binary migrates a template database once (named
// after a hash of the migration files, so a schema change makes a new one);
// every test then gets a copy made with CREATE DATABASE ... TEMPLATE, which
// takes milliseconds, and drops it when the test ends.
//
// Without DATABASE_URL the test is skipped, unless CI=true, where it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/migrations"
)

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// New returns a connection pool to a fresh database with every migration
// applied. The database is dropped when the test ends.
func New(t testing.TB) *sqlx.DB {
	t.Helper()
	db, _ := NewWithURL(t)
	return db
}

// NewWithURL is New that also returns the database's URL, for tests that
// start the whole program.
func NewWithURL(t testing.TB) (*sqlx.DB, string) {
	t.Helper()
	base := ServerURL(t)
	ctx := context.Background()

	templateOnce.Do(func() { templateName, templateErr = prepareTemplate(ctx, base) })
	if templateErr != nil {
		t.Fatalf("prepare template database: %v", templateErr)
	}

	name := "gh_test_" + randomSuffix()
	admin := connect(t, withDatabase(base, "postgres"))
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, templateName)); err != nil {
		t.Fatalf("create test database: %v", err)
	}

	testURL := withDatabase(base, name)
	db := connect(t, testURL)
	t.Cleanup(func() {
		db.Close()
		drop := connectNoFail(withDatabase(base, "postgres"))
		if drop == nil {
			return
		}
		defer drop.Close()
		if _, err := drop.Exec(fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	return db, testURL
}

// ServerURL returns DATABASE_URL, or skips the test when it is unset
// outside CI.
func ServerURL(t testing.TB) string {
	t.Helper()
	raw := os.Getenv("DATABASE_URL")
	if raw != "" {
		return raw
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("DATABASE_URL is not set; CI must run tests against PostgreSQL (run them with `make test`)")
	}
	t.Skip("DATABASE_URL is not set; run `make test`, which starts a private PostgreSQL")
	return ""
}

// prepareTemplate creates and migrates the template database unless
// another test binary already did. An advisory lock serializes test
// binaries that start together.
func prepareTemplate(ctx context.Context, base string) (string, error) {
	name, err := templateNameForMigrations()
	if err != nil {
		return "", err
	}
	admin, err := database.Open(ctx, withDatabase(base, "postgres"))
	if err != nil {
		return "", err
	}
	defer admin.Close()

	conn, err := admin.Connx(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(727274)"); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(727274)")

	var exists bool
	if err := conn.GetContext(ctx, &exists, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}

	building := name + "_building"
	conn.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", building))
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %s", building)); err != nil {
		return "", err
	}
	if err := migrateDatabase(ctx, withDatabase(base, building)); err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, name)); err != nil {
		return "", err
	}
	return name, nil
}

func migrateDatabase(ctx context.Context, url string) error {
	db, err := database.Open(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	return database.Migrate(ctx, db.DB)
}

// templateNameForMigrations names the template after the migration files'
// contents.
func templateNameForMigrations() (string, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		data, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(data))
		h.Write(data)
	}
	return "gh_template_" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

func connect(t testing.TB, url string) *sqlx.DB {
	t.Helper()
	db, err := database.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("connect to %s: %v", redact(url), err)
	}
	db.SetMaxOpenConns(10)
	return db
}

func connectNoFail(url string) *sqlx.DB {
	db, err := database.Open(context.Background(), url)
	if err != nil {
		return nil
	}
	return db
}

// withDatabase returns the URL with its database name replaced.
func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "DATABASE_URL"
	}
	return u.Redacted()
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Package database opens gatehouse's PostgreSQL pool, applies the embedded
// migrations and translates driver errors into the few errors callers act on.
// It is the only package that imports the driver.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	neturl "net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/gatehouse-dev/gatehouse/migrations"
)

var (
	// ErrNotFound means no row matched. Stores return it for another
	// tenant's record too, so callers cannot tell the two apart.
	ErrNotFound = errors.New("not found")

	// ErrConflict means a unique constraint or an optimistic lock rejected the write.
	ErrConflict = errors.New("conflict")

	// ErrUnavailable means the database could not be reached or refused
	// connections; the request may succeed when retried.
	ErrUnavailable = errors.New("database unavailable")

	// ErrInvalidText means a text value cannot be stored or compared:
	// it contains a null character or is not valid UTF-8 (SQLSTATE 22021
	// or 22P05). Such a value comes from a client, so callers return a
	// client error (400) instead of a server error.
	ErrInvalidText = errors.New("text contains a null character or invalid UTF-8")
)

// Server-side timeouts every connection gets unless the URL sets its own:
// a statement that runs longer is cancelled, and a session idle inside a
// transaction is closed, so a stuck request cannot hold locks for long.
const (
	defaultStatementTimeout     = "30s"
	defaultIdleInTxSessionLimit = "60s"
)

// Open connects to PostgreSQL and checks the connection. It adds the
// default statement and idle-in-transaction timeouts to url unless url
// sets them.
func Open(ctx context.Context, url string) (*sqlx.DB, error) {
	db, err := sqlx.Open("postgres", withTimeouts(url))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(40)
	db.SetMaxIdleConns(40)
	db.SetConnMaxIdleTime(5 * time.Minute)

	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return db, nil
}

// Migrate applies every pending migration. A PostgreSQL advisory lock makes
// instances that start at the same time apply them one after another.
func Migrate(ctx context.Context, db *sql.DB) error {
	provider, err := newProvider(db)
	if err != nil {
		return err
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// Pending reports whether migrations exist that the database has not applied.
func Pending(ctx context.Context, db *sql.DB) (bool, error) {
	provider, err := newProvider(db)
	if err != nil {
		return false, err
	}
	pending, err := provider.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("check migrations: %w", err)
	}
	return pending, nil
}

func newProvider(db *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	// Out-of-order application lets a database that applied a later
	// migration first (one developed on a branch, say) take an earlier one
	// that landed afterwards, instead of refusing to start.
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker), goose.WithAllowOutofOrder(true))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return provider, nil
}

// WithTx runs fn in a transaction, committing when fn returns nil and
// rolling back otherwise.
func WithTx(ctx context.Context, db *sqlx.DB, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return Translate(fmt.Errorf("begin transaction: %w", err))
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return Translate(fmt.Errorf("commit transaction: %w", err))
	}
	return nil
}

// Translate maps driver errors onto ErrNotFound, ErrConflict,
// ErrUnavailable and ErrInvalidText, keeping the original error in the
// chain. Other errors pass through unchanged.
func Translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code.Class() {
		case "23":
			if pqErr.Code == "23505" {
				return fmt.Errorf("%w: %w", ErrConflict, err)
			}
		case "08", "57":
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		case "22":
			if pqErr.Code == "22021" || pqErr.Code == "22P05" {
				return fmt.Errorf("%w: %w", ErrInvalidText, err)
			}
		case "40":
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
		return err
	}
	if isConnectionError(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// withTimeouts adds statement_timeout and
// idle_in_transaction_session_timeout to a postgres:// URL or a key=value
// connection string; lib/pq sends parameters it does not know to the
// server as run-time settings.
func withTimeouts(raw string) string {
	settings := [][2]string{
		{"statement_timeout", defaultStatementTimeout},
		{"idle_in_transaction_session_timeout", defaultIdleInTxSessionLimit},
	}
	if u, err := neturl.Parse(raw); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		for _, kv := range settings {
			if !q.Has(kv[0]) {
				q.Set(kv[0], kv[1])
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for _, kv := range settings {
		if !strings.Contains(raw, kv[0]+"=") {
			raw += " " + kv[0] + "=" + kv[1]
		}
	}
	return raw
}

// IsNotFound reports whether err is or wraps ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

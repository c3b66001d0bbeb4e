// Package mail sends gatehouse's email. Callers enqueue a Message in the
// outbox table inside their own transaction, so mail goes out exactly when
// the change that caused it commits. A background Worker delivers it over
// SMTP with go-mail and retries with backoff. Without SMTP (development),
// mail stays pending in the outbox, where staff read it.
package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
)

// Message is one email. Bodies may carry links with secrets, so a message
// is never logged; only its kind and outbox ID are.
type Message struct {
	Kind    string `db:"kind"` // template name, e.g. "verify_request"; used in logs and the outbox page
	To      string `db:"to_address"`
	Subject string `db:"subject"`
	Text    string `db:"text_body"`
	HTML    string `db:"html_body"`
}

// State is the delivery stage of an outbox message.
type State string

// The outbox states.
const (
	// Pending mail waits for its first or next delivery attempt.
	Pending State = "pending"
	// Sent mail was accepted by the SMTP server.
	Sent State = "sent"
	// Dead mail failed MaxAttempts times and waits for staff to retry it.
	Dead State = "dead"
)

// ErrAlreadySent is returned by Retry for mail the SMTP server accepted. It
// matches database.ErrConflict too.
var ErrAlreadySent = fmt.Errorf("mail already sent: %w", database.ErrConflict)

// ErrSending is returned by Retry while a worker is sending the message. It
// matches database.ErrConflict too.
var ErrSending = fmt.Errorf("mail is being sent: %w", database.ErrConflict)

// Enqueue stores m in the outbox through q, a pool or the caller's
// transaction, and returns its outbox ID. The message is due at once.
func Enqueue(ctx context.Context, q sqlx.ExtContext, m Message) (int64, error) {
	if m.Kind == "" || m.To == "" || m.Subject == "" || m.Text == "" {
		return 0, fmt.Errorf("enqueue %q mail: kind, recipient, subject and text body are required", m.Kind)
	}

	var id int64
	err := sqlx.GetContext(ctx, q, &id, `
		INSERT INTO outbox (kind, to_address, subject, text_body, html_body) VALUES ($1, $2, $3, $4, $5)
		RETURNING id`, m.Kind, m.To, m.Subject, m.Text, m.HTML)
	if err != nil {
		return 0, database.Translate(fmt.Errorf("enqueue %s mail: %w", m.Kind, err))
	}
	return id, nil
}

// Entry is an outbox row as the outbox page shows it. List leaves Text and
// HTML empty; Get fills them.
type Entry struct {
	ID int64 `db:"id"`
	Message
	State         State      `db:"state"`
	Attempts      int        `db:"attempts"`
	NextAttemptAt time.Time  `db:"next_attempt_at"`
	ClaimedUntil  *time.Time `db:"claimed_until"` // set while a worker sends the message
	LastError     string     `db:"last_error"`
	CreatedAt     time.Time  `db:"created_at"`
	SentAt        *time.Time `db:"sent_at"`
}

// ListFilter selects a page of outbox entries.
type ListFilter struct {
	State  State // empty for every state
	Limit  int   // 1 to MaxListLimit; zero means DefaultListLimit
	Offset int
}

// Page sizes for List.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// List returns outbox entries newest first, without their bodies.
func List(ctx context.Context, q sqlx.QueryerContext, f ListFilter) ([]Entry, error) {
	limit := f.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	if limit < 1 || limit > MaxListLimit || f.Offset < 0 {
		return nil, fmt.Errorf("list mail: limit must be 1 to %d and offset at least 0, got %d and %d", MaxListLimit, f.Limit, f.Offset)
	}

	entries := []Entry{}
	err := sqlx.SelectContext(ctx, q, &entries, `
		SELECT id, kind, to_address, subject, state, attempts, next_attempt_at, claimed_until,
			last_error, created_at, sent_at
		FROM outbox
		WHERE $1 = '' OR state = $1
		ORDER BY id DESC
		LIMIT $2 OFFSET $3`, string(f.State), limit, f.Offset)
	if err != nil {
		return nil, database.Translate(fmt.Errorf("list mail: %w", err))
	}
	return entries, nil
}

// Get returns one outbox entry with its bodies, or database.ErrNotFound.
func Get(ctx context.Context, q sqlx.QueryerContext, id int64) (Entry, error) {
	var e Entry
	err := sqlx.GetContext(ctx, q, &e, `
		SELECT id, kind, to_address, subject, text_body, html_body, state, attempts, next_attempt_at,
			claimed_until, last_error, created_at, sent_at
		FROM outbox
		WHERE id = $1`, id)
	if err != nil {
		return Entry{}, database.Translate(fmt.Errorf("get mail %d: %w", id, err))
	}
	return e, nil
}

// Retry makes a pending or dead message due now with its attempts reset.
// It returns database.ErrNotFound for an unknown ID, ErrAlreadySent for
// mail that was sent and ErrSending while a worker holds the message.
func Retry(ctx context.Context, q sqlx.QueryerContext, id int64) error {
	var updated int64
	err := sqlx.GetContext(ctx, q, &updated, `
		UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = now(), last_error = ''
		WHERE id = $1 AND state <> 'sent' AND (claimed_until IS NULL OR claimed_until <= now())
		RETURNING id`, id)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return database.Translate(fmt.Errorf("retry mail %d: %w", id, err))
	}

	var state State
	err = sqlx.GetContext(ctx, q, &state, `SELECT state FROM outbox WHERE id = $1`, id)
	switch {
	case err != nil:
		return database.Translate(fmt.Errorf("retry mail %d: %w", id, err))
	case state == Sent:
		return fmt.Errorf("retry mail %d: %w", id, ErrAlreadySent)
	default:
		return fmt.Errorf("retry mail %d: %w", id, ErrSending)
	}
}

// OutboxStats summarizes the outbox for metrics and the staff dashboard.
type OutboxStats struct {
	Pending       int
	Dead          int
	OldestPending time.Duration // age of the oldest pending message; zero when none is pending
}

// Stats counts pending and dead mail and measures how long the oldest
// pending message has waited.
func Stats(ctx context.Context, q sqlx.QueryerContext) (OutboxStats, error) {
	var row struct {
		Pending       int     `db:"pending"`
		Dead          int     `db:"dead"`
		OldestSeconds float64 `db:"oldest_seconds"`
	}
	err := sqlx.GetContext(ctx, q, &row, `
		SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
			count(*) FILTER (WHERE state = 'dead') AS dead,
			COALESCE(EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE state = 'pending')), 0)::float8 AS oldest_seconds
		FROM outbox
		WHERE state IN ('pending', 'dead')`)
	if err != nil {
		return OutboxStats{}, database.Translate(fmt.Errorf("count mail: %w", err))
	}
	oldest := time.Duration(row.OldestSeconds * float64(time.Second))
	return OutboxStats{Pending: row.Pending, Dead: row.Dead, OldestPending: oldest}, nil
}

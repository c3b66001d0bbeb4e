package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	netmail "net/mail"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
)

// SendFunc delivers one message, for example SMTPSender.Send. It returns
// nil only when the SMTP server accepted the message.
type SendFunc func(ctx context.Context, m Message) error

// Default Worker settings.
const (
	DefaultPollInterval = time.Second
	DefaultSendTimeout  = time.Minute
	DefaultLease        = 5 * time.Minute
	DefaultMaxAttempts  = 10
)

// maxErrorLength is the length in bytes past which last_error is cut.
const maxErrorLength = 300

// Worker delivers due outbox mail. Any number of workers, in one process or
// several, may run on one database. Each claims one message at a time with
// FOR UPDATE SKIP LOCKED and commits the claim before sending, so no
// transaction stays open across an SMTP call.
//
// A claim increments the message's attempts and leases it for Lease. If the
// worker dies between sending and recording the outcome, the message is
// sent again after the lease ends. Delivery is therefore at least once, and
// the attempts counted at claim time bound how often that can happen.
//
// Every failure is retried until MaxAttempts, a permanent SMTP rejection
// (5xx) too, because a misconfigured relay also replies with 5xx, and that
// should not kill all mail at once.
//
// Set the exported fields before calling Run or DeliverDue.
type Worker struct {
	db     *sqlx.DB
	send   SendFunc
	logger *slog.Logger

	// PollInterval is how long Run waits between looks for due mail.
	PollInterval time.Duration
	// SendTimeout bounds one SMTP delivery. It must be shorter than Lease.
	SendTimeout time.Duration
	// Lease is how long a claimed message is hidden from other workers.
	Lease time.Duration
	// MaxAttempts is how many attempts a message gets before it is dead.
	MaxAttempts int
	// Backoff returns the wait after the given failed attempt (1 for the first).
	Backoff func(attempt int) time.Duration
	// Now is the worker's clock, used for every due time it reads or writes.
	Now func() time.Time
}

// NewWorker returns a worker that delivers mail from db through send with
// the default settings. A nil send makes a worker that never sends, as in
// development, where mail stays pending for staff to read in the outbox.
func NewWorker(db *sqlx.DB, send SendFunc, logger *slog.Logger) *Worker {
	if logger == nil {
		logger = slog.Default()
	}
	return &Worker{
		db:           db,
		send:         send,
		logger:       logger,
		PollInterval: DefaultPollInterval,
		SendTimeout:  DefaultSendTimeout,
		Lease:        DefaultLease,
		MaxAttempts:  DefaultMaxAttempts,
		Backoff:      ExponentialBackoff,
		Now:          time.Now,
	}
}

// ExponentialBackoff waits 30 seconds after the first failed attempt and
// twice as long after each further one, up to one hour. The wait is drawn
// at random from the upper half of that range, so messages that failed
// together are retried apart.
func ExponentialBackoff(attempt int) time.Duration {
	const base, ceiling = 30 * time.Second, time.Hour

	wait := ceiling
	attempt = max(attempt, 1)
	if attempt <= 8 {
		wait = min(base<<(attempt-1), ceiling)
	}
	return wait/2 + rand.N(wait/2+1)
}

// Run delivers due mail every PollInterval until ctx is done, then returns
// nil. When ctx is canceled during a delivery, Run finishes that message
// first. Database errors are logged and retried at the next poll.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.validate(); err != nil {
		return err
	}
	if w.send == nil {
		w.logger.Info("mail delivery disabled, mail stays in the outbox")
		<-ctx.Done()
		return nil
	}

	w.logger.Info("mail worker started", "poll_interval", w.PollInterval.String())
	ticker := time.NewTicker(w.PollInterval)
	defer ticker.Stop()
	failures := 0
	for {
		_, err := w.DeliverDue(ctx)
		failures = w.logPollResult(ctx, err, failures)

		select {
		case <-ctx.Done():
			w.logger.Info("mail worker stopped")
			return nil
		case <-ticker.C:
		}
	}
}

// validate returns an error for settings that would break delivery.
func (w *Worker) validate() error {
	switch {
	case w.PollInterval <= 0 || w.SendTimeout <= 0 || w.MaxAttempts < 1:
		return fmt.Errorf("invalid mail worker settings: PollInterval and SendTimeout must be positive and MaxAttempts at least 1")
	case w.Lease <= w.SendTimeout:
		return fmt.Errorf("invalid mail worker settings: Lease (%v) must exceed SendTimeout (%v), or a slow send is claimed twice", w.Lease, w.SendTimeout)
	case w.Backoff == nil || w.Now == nil:
		return fmt.Errorf("invalid mail worker settings: Backoff and Now are required")
	}
	return nil
}

// logPollResult logs the first of a run of failed polls, every 60th after
// it, and the recovery, so a database outage does not log every second. It
// returns the new count of consecutive failures.
func (w *Worker) logPollResult(ctx context.Context, err error, failures int) int {
	if err == nil || ctx.Err() != nil {
		if failures > 0 {
			w.logger.Info("mail worker recovered", "failed_polls", failures)
		}
		return 0
	}
	if failures%60 == 0 {
		w.logger.Error("deliver mail failed", "error", err, "failed_polls", failures+1)
	}
	return failures + 1
}

// DeliverDue tries once to send each message that is due, oldest ID first,
// and returns how many it tried. It returns early, with a nil error, when
// ctx is canceled, finishing the message in progress. A failed send is not
// an error: it is recorded on the message and logged. Without a send
// function, DeliverDue does nothing.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	if w.send == nil {
		return 0, nil
	}
	if err := w.validate(); err != nil {
		return 0, err
	}
	if err := w.buryUnconfirmed(ctx); err != nil {
		return 0, err
	}

	tried := 0
	var after int64
	for ctx.Err() == nil {
		l, err := w.claim(ctx, after)
		if errors.Is(err, database.ErrNotFound) {
			return tried, nil
		}
		if err != nil {
			return tried, err
		}

		after = l.ID
		tried++
		if err := w.deliver(ctx, l); err != nil {
			return tried, err
		}
	}
	return tried, nil
}

// leased is a message that this worker claimed for one delivery attempt.
type leased struct {
	ID int64 `db:"id"`
	Message
	Attempt int `db:"attempts"` // attempts so far, this one included
}

// claim leases the first due message with an ID above after, or returns
// database.ErrNotFound when there is none. Walking IDs upward makes one
// DeliverDue pass visit each message at most once, even when a failed
// message becomes due again at once.
func (w *Worker) claim(ctx context.Context, after int64) (leased, error) {
	now := w.Now()
	var l leased
	err := w.db.GetContext(ctx, &l, `
		UPDATE outbox SET attempts = attempts + 1, claimed_until = $3, next_attempt_at = $3
		WHERE id = (
			SELECT id FROM outbox
			WHERE state = 'pending' AND next_attempt_at <= $1 AND id > $2 AND attempts < $4
			ORDER BY id
			LIMIT 1
			FOR UPDATE SKIP LOCKED
		)
		RETURNING id, kind, to_address, subject, text_body, html_body, attempts`,
		now, after, now.Add(w.Lease), w.MaxAttempts)
	if err != nil {
		return leased{}, database.Translate(fmt.Errorf("claim mail: %w", err))
	}
	return l, nil
}

// buryUnconfirmed moves to dead the messages whose last allowed attempt
// was claimed but never recorded, because a worker died while sending.
func (w *Worker) buryUnconfirmed(ctx context.Context) error {
	result, err := w.db.ExecContext(ctx, `
		UPDATE outbox SET state = 'dead', claimed_until = NULL,
			last_error = CASE WHEN last_error = '' THEN 'delivery not confirmed' ELSE last_error END
		WHERE state = 'pending' AND next_attempt_at <= $1 AND attempts >= $2`, w.Now(), w.MaxAttempts)
	if err != nil {
		return database.Translate(fmt.Errorf("mark unconfirmed mail dead: %w", err))
	}
	if n, _ := result.RowsAffected(); n > 0 {
		w.logger.Warn("mail dead after unconfirmed attempts", "count", n)
	}
	return nil
}

// deliver sends one claimed message and records the outcome. Neither step
// stops when ctx is canceled, so a shutdown does not abandon a message
// halfway. It returns only the errors of recording the outcome.
func (w *Worker) deliver(ctx context.Context, l leased) error {
	ctx = context.WithoutCancel(ctx)
	sendCtx, cancel := context.WithTimeout(ctx, w.SendTimeout)
	err := w.send(sendCtx, l.Message)
	cancel()

	recordCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err == nil {
		return w.markSent(recordCtx, l)
	}
	return w.markFailed(recordCtx, l, redactError(err, l.To))
}

// markSent records a delivery and erases the bodies, whose links (a token
// reveal, a password reset) would otherwise stay usable by anyone who
// reads the table or a backup of it. The attempts check makes it a no-op
// when the lease ran out and another worker claimed the message again.
func (w *Worker) markSent(ctx context.Context, l leased) error {
	result, err := w.db.ExecContext(ctx, `
		UPDATE outbox SET state = 'sent', sent_at = $3, claimed_until = NULL, text_body = '', html_body = ''
		WHERE id = $1 AND attempts = $2 AND state = 'pending'`, l.ID, l.Attempt, w.Now())
	if err != nil {
		return database.Translate(fmt.Errorf("mark mail %d sent: %w", l.ID, err))
	}

	if n, _ := result.RowsAffected(); n == 0 {
		w.logger.Warn("mail sent after its lease ended", "outbox_id", l.ID, "kind", l.Kind, "attempt", l.Attempt)
		return nil
	}
	w.logger.Info("mail sent", "outbox_id", l.ID, "kind", l.Kind, "attempt", l.Attempt)
	return nil
}

// markFailed records a failed attempt, and schedules the next one or moves
// the message to dead after MaxAttempts.
func (w *Worker) markFailed(ctx context.Context, l leased, reason string) error {
	next := w.Now().Add(w.Backoff(l.Attempt))
	var state State
	err := w.db.GetContext(ctx, &state, `
		UPDATE outbox SET state = CASE WHEN attempts >= $3 THEN 'dead' ELSE 'pending' END,
			next_attempt_at = $4, last_error = $5, claimed_until = NULL
		WHERE id = $1 AND attempts = $2 AND state = 'pending'
		RETURNING state`, l.ID, l.Attempt, w.MaxAttempts, next, reason)
	if errors.Is(database.Translate(err), database.ErrNotFound) {
		w.logger.Warn("mail failed after its lease ended", "outbox_id", l.ID, "kind", l.Kind, "attempt", l.Attempt, "error", reason)
		return nil
	}
	if err != nil {
		return database.Translate(fmt.Errorf("record mail %d failure: %w", l.ID, err))
	}

	if state == Dead {
		w.logger.Error("mail dead", "outbox_id", l.ID, "kind", l.Kind, "attempt", l.Attempt, "error", reason)
		return nil
	}
	w.logger.Warn("send mail failed", "outbox_id", l.ID, "kind", l.Kind, "attempt", l.Attempt,
		"error", reason, "retry_at", next.UTC().Format(time.RFC3339))
	return nil
}

// redactError returns err's text without the recipient's address, which
// SMTP servers often echo, cut to maxErrorLength bytes. The result goes to
// the log and to last_error, so it must carry no personal data.
func redactError(err error, to string) string {
	text := err.Error()
	addresses := []string{to}
	if parsed, err := netmail.ParseAddress(to); err == nil {
		addresses = append(addresses, parsed.Address)
	}
	for _, address := range addresses {
		if address != "" {
			text = regexp.MustCompile(`(?i)`+regexp.QuoteMeta(address)).ReplaceAllString(text, "<recipient>")
		}
	}
	if len(text) <= maxErrorLength {
		return text
	}

	cut := maxErrorLength
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "…"
}

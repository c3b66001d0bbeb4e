package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/pgtest"
)

const testFrom = "Gatehouse <noreply@gatehouse.test>"

// testClock is a worker clock that moves only when a test advances it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

// newTestClock starts a minute ahead of the database's clock, so mail that
// the test enqueues with now() is already due.
func newTestClock() *testClock {
	return &testClock{now: time.Now().Add(time.Minute).Round(time.Microsecond)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testBackoff waits attempt minutes, so tests can predict next_attempt_at.
func testBackoff(attempt int) time.Duration { return time.Duration(attempt) * time.Minute }

// lockedBuffer collects log output from concurrent workers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newTestWorker returns a worker on db with a test clock, testBackoff and a
// log that the test can read.
func newTestWorker(db *sqlx.DB, send SendFunc) (*Worker, *testClock, *lockedBuffer) {
	logs := &lockedBuffer{}
	clock := newTestClock()
	w := NewWorker(db, send, slog.New(slog.NewTextHandler(logs, nil)))
	w.Now = clock.Now
	w.Backoff = testBackoff
	w.PollInterval = 10 * time.Millisecond
	return w, clock, logs
}

func newTestSender(t *testing.T, addr string) *SMTPSender {
	t.Helper()
	sender, err := NewSMTPSender("smtp://"+addr+"?starttls=none", testFrom)
	if err != nil {
		t.Fatalf("create SMTP sender: %v", err)
	}
	return sender
}

func enqueueTest(t *testing.T, q sqlx.ExtContext, to string) int64 {
	t.Helper()
	m, err := VerifyRequest(to, "Ada", "Example", "GH-7K2P", "https://gatehouse.test/setup/verify/v-secret", "https://gatehouse.test/setup/status/s-secret")
	if err != nil {
		t.Fatalf("build message: %v", err)
	}
	id, err := Enqueue(context.Background(), q, m)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return id
}

func deliverDue(t *testing.T, w *Worker, want int) {
	t.Helper()
	n, err := w.DeliverDue(context.Background())
	if err != nil {
		t.Fatalf("DeliverDue: %v", err)
	}
	if n != want {
		t.Errorf("DeliverDue tried %d messages, want %d", n, want)
	}
}

func getEntry(t *testing.T, db *sqlx.DB, id int64) Entry {
	t.Helper()
	e, err := Get(context.Background(), db, id)
	if err != nil {
		t.Fatalf("get mail %d: %v", id, err)
	}
	return e
}

// parsedMail is a received message split into the parts the tests check.
type parsedMail struct {
	From, To, Subject, ContentType string
	Text, HTML                     string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse received mail: %v", err)
	}
	var decoder mime.WordDecoder
	subject, err := decoder.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode subject: %v", err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("parse content type: %v", err)
	}
	p := parsedMail{From: msg.Header.Get("From"), To: msg.Header.Get("To"), Subject: subject, ContentType: mediaType}
	if mediaType != "multipart/alternative" {
		return p
	}

	parts := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := parts.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			return p
		}
		if err != nil {
			t.Fatalf("read mail part: %v", err)
		}
		body, _ := io.ReadAll(part)
		body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")) // SMTP sends CRLF line ends
		partType, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch partType {
		case "text/plain":
			p.Text = string(body)
		case "text/html":
			p.HTML = string(body)
		}
	}
}

func TestWorkerDeliversMultipartMail(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	server := startSMTPServer(t, serverOptions{})
	w, clock, logs := newTestWorker(db, newTestSender(t, server.addr).Send)
	id := enqueueTest(t, db, "ada@example.com")
	want := getEntry(t, db, id)

	deliverDue(t, w, 1)

	got := server.messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	if diff := cmp.Diff([]string{"ada@example.com"}, got[0].To); diff != "" {
		t.Errorf("envelope recipients (-want +got):\n%s", diff)
	}
	if got[0].From != "noreply@gatehouse.test" {
		t.Errorf("envelope sender = %q, want noreply@gatehouse.test", got[0].From)
	}

	mail := parseMail(t, got[0].Data)
	if diff := cmp.Diff(parsedMail{
		From: `"Gatehouse" <noreply@gatehouse.test>`, To: "<ada@example.com>", Subject: want.Subject,
		ContentType: "multipart/alternative", Text: want.Text, HTML: want.HTML,
	}, mail); diff != "" {
		t.Errorf("received mail (-want +got):\n%s", diff)
	}

	e := getEntry(t, db, id)
	if e.State != Sent || e.Attempts != 1 || e.ClaimedUntil != nil || e.SentAt == nil || !e.SentAt.Equal(clock.Now()) {
		t.Errorf("entry after delivery = state %s, attempts %d, claimed until %v, sent at %v; want sent once at %v",
			e.State, e.Attempts, e.ClaimedUntil, e.SentAt, clock.Now())
	}
	if !strings.Contains(logs.String(), fmt.Sprintf("outbox_id=%d kind=verify_request attempt=1", id)) {
		t.Errorf("log lacks the delivery line:\n%s", logs)
	}
	deliverDue(t, w, 0)
}

func TestWorkerSkipsRolledBackMail(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	server := startSMTPServer(t, serverOptions{})
	w, _, _ := newTestWorker(db, newTestSender(t, server.addr).Send)

	tx, err := db.Beginx()
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	enqueueTest(t, tx, "rolled-back@example.com")
	if err := tx.Rollback(); err != nil {
		t.Fatalf("roll back: %v", err)
	}
	err = database.WithTx(context.Background(), db, func(tx *sqlx.Tx) error {
		enqueueTest(t, tx, "committed@example.com")
		return nil
	})
	if err != nil {
		t.Fatalf("commit: %v", err)
	}

	deliverDue(t, w, 1)
	var recipients []string
	for _, m := range server.messages() {
		recipients = append(recipients, m.To...)
	}
	if diff := cmp.Diff([]string{"committed@example.com"}, recipients); diff != "" {
		t.Errorf("recipients (-want +got):\n%s", diff)
	}
}

func TestWorkerRetriesWhenSMTPDown(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	addr := freeAddr(t)
	w, clock, logs := newTestWorker(db, newTestSender(t, addr).Send)
	id := enqueueTest(t, db, "Ada.Lovelace@example.com")

	deliverDue(t, w, 1)
	e := getEntry(t, db, id)
	if e.State != Pending || e.Attempts != 1 || e.ClaimedUntil != nil {
		t.Errorf("entry after failure = state %s, attempts %d, claimed until %v; want pending, 1, nil", e.State, e.Attempts, e.ClaimedUntil)
	}
	if !strings.Contains(e.LastError, "connection refused") {
		t.Errorf("last_error = %q, want a refused connection", e.LastError)
	}
	if want := clock.Now().Add(time.Minute); !e.NextAttemptAt.Equal(want) {
		t.Errorf("next_attempt_at = %v, want %v (the backoff after attempt 1)", e.NextAttemptAt, want)
	}
	deliverDue(t, w, 0) // not due before the backoff ends

	server := startSMTPServer(t, serverOptions{addr: addr})
	clock.Advance(time.Minute)
	deliverDue(t, w, 1)
	deliverDue(t, w, 0)

	if n := len(server.messages()); n != 1 {
		t.Errorf("server received %d messages, want 1", n)
	}
	if e := getEntry(t, db, id); e.State != Sent || e.Attempts != 2 {
		t.Errorf("entry = state %s, attempts %d; want sent after 2", e.State, e.Attempts)
	}
	if strings.Contains(strings.ToLower(logs.String()), "ada.lovelace") || strings.Contains(logs.String(), "secret") {
		t.Errorf("log contains the address or a link:\n%s", logs)
	}
}

func TestWorkerRetriesTemporaryRejection(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	server := startSMTPServer(t, serverOptions{})
	server.setReject(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Mailbox <ada@example.com> busy, try later"})
	w, clock, logs := newTestWorker(db, newTestSender(t, server.addr).Send)
	id := enqueueTest(t, db, "ada@example.com")

	deliverDue(t, w, 1)
	e := getEntry(t, db, id)
	if e.State != Pending || e.Attempts != 1 {
		t.Errorf("entry after rejection = state %s, attempts %d; want pending, 1", e.State, e.Attempts)
	}
	if !strings.Contains(e.LastError, "451") || strings.Contains(e.LastError, "ada@example.com") {
		t.Errorf("last_error = %q, want the 451 reply without the address", e.LastError)
	}
	if strings.Contains(logs.String(), "ada@example.com") {
		t.Errorf("log contains the address:\n%s", logs)
	}

	server.setReject(nil)
	clock.Advance(time.Minute)
	deliverDue(t, w, 1)
	clock.Advance(time.Hour)
	deliverDue(t, w, 0)
	if n := len(server.messages()); n != 1 {
		t.Errorf("server received %d messages, want 1", n)
	}
	if e := getEntry(t, db, id); e.State != Sent {
		t.Errorf("state = %s, want sent", e.State)
	}
}

func TestWorkerDeadAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	server := startSMTPServer(t, serverOptions{})
	server.setReject(&smtp.SMTPError{Code: 421, Message: "Service not available"})
	w, clock, logs := newTestWorker(db, newTestSender(t, server.addr).Send)
	w.MaxAttempts = 3
	id := enqueueTest(t, db, "ada@example.com")

	for range 3 {
		deliverDue(t, w, 1)
		clock.Advance(time.Hour)
	}
	deliverDue(t, w, 0)

	e := getEntry(t, db, id)
	if e.State != Dead || e.Attempts != 3 || !strings.Contains(e.LastError, "421") {
		t.Errorf("entry = state %s, attempts %d, last error %q; want dead after 3 with the 421 reply", e.State, e.Attempts, e.LastError)
	}
	if !strings.Contains(logs.String(), "msg=\"mail dead\"") {
		t.Errorf("log lacks the dead-letter line:\n%s", logs)
	}

	server.setReject(nil)
	if err := Retry(context.Background(), db, id); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	deliverDue(t, w, 1)
	if e := getEntry(t, db, id); e.State != Sent || e.Attempts != 1 {
		t.Errorf("entry after retry = state %s, attempts %d; want sent after 1", e.State, e.Attempts)
	}
}

func TestWorkerResendsAfterExpiredLease(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	var sent []int64
	w, clock, _ := newTestWorker(db, func(ctx context.Context, m Message) error { return nil })
	w.MaxAttempts = 2
	first := enqueueTest(t, db, "first@example.com")
	second := enqueueTest(t, db, "second@example.com")

	// A worker claims both messages and dies before recording the outcome.
	for range 2 {
		l, err := w.claim(context.Background(), 0)
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		sent = append(sent, l.ID)
	}
	if diff := cmp.Diff([]int64{first, second}, sent); diff != "" {
		t.Errorf("claimed IDs (-want +got):\n%s", diff)
	}
	deliverDue(t, w, 0) // leased

	clock.Advance(w.Lease)
	if _, err := db.Exec(`UPDATE outbox SET attempts = 2 WHERE id = $1`, second); err != nil {
		t.Fatalf("use up attempts: %v", err)
	}
	deliverDue(t, w, 1)

	if e := getEntry(t, db, first); e.State != Sent || e.Attempts != 2 {
		t.Errorf("first = state %s, attempts %d; want sent after 2", e.State, e.Attempts)
	}
	if e := getEntry(t, db, second); e.State != Dead || e.LastError != "delivery not confirmed" {
		t.Errorf("second = state %s, last error %q; want dead, delivery not confirmed", e.State, e.LastError)
	}
}

func TestWorkerIgnoresOutcomeAfterLostLease(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	w, clock, logs := newTestWorker(db, nil)
	id := enqueueTest(t, db, "ada@example.com")

	stale, err := w.claim(context.Background(), 0)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	clock.Advance(w.Lease)
	if _, err := w.claim(context.Background(), 0); err != nil {
		t.Fatalf("claim again: %v", err)
	}
	if err := w.markFailed(context.Background(), stale, "timed out"); err != nil {
		t.Fatalf("markFailed: %v", err)
	}

	e := getEntry(t, db, id)
	if e.Attempts != 2 || e.ClaimedUntil == nil || e.LastError != "" {
		t.Errorf("entry = attempts %d, claimed until %v, last error %q; want the second claim untouched", e.Attempts, e.ClaimedUntil, e.LastError)
	}
	if !strings.Contains(logs.String(), "mail failed after its lease ended") {
		t.Errorf("log lacks the lost-lease line:\n%s", logs)
	}
}

func TestWorkersDeliverEachMessageOnce(t *testing.T) {
	t.Parallel()
	db, url := pgtest.NewWithURL(t)
	other, err := database.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open second pool: %v", err)
	}
	t.Cleanup(func() { other.Close() })
	server := startSMTPServer(t, serverOptions{})

	const count = 120
	want := map[string]int{}
	for i := range count {
		to := fmt.Sprintf("user%03d@example.com", i)
		enqueueTest(t, db, to)
		want[to] = 1
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var logs []*lockedBuffer
	for _, pool := range []*sqlx.DB{db, other} {
		w, _, log := newTestWorker(pool, newTestSender(t, server.addr).Send)
		logs = append(logs, log)
		wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	waitFor(t, func() bool { return len(server.messages()) >= count })
	cancel()
	wg.Wait()

	got := map[string]int{}
	for _, m := range server.messages() {
		for _, to := range m.To {
			got[to]++
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deliveries per recipient (-want +got):\n%s", diff)
	}
	stats, err := Stats(context.Background(), db)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if stats.Pending != 0 || stats.Dead != 0 {
		t.Errorf("stats = %+v, want nothing pending or dead", stats)
	}
	for i, log := range logs {
		t.Logf("worker %d sent %d messages", i, strings.Count(log.String(), `msg="mail sent"`))
	}
}

func waitFor(t *testing.T, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for delivery")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWorkerFinishesMessageOnCancel(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	var calls int
	w, _, _ := newTestWorker(db, func(sendCtx context.Context, m Message) error {
		calls++
		cancel()
		return sendCtx.Err() // the send itself must not see the cancellation
	})
	first := enqueueTest(t, db, "first@example.com")
	second := enqueueTest(t, db, "second@example.com")

	if err := w.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if calls != 1 {
		t.Errorf("send called %d times, want 1", calls)
	}
	if e := getEntry(t, db, first); e.State != Sent {
		t.Errorf("first state = %s, want sent", e.State)
	}
	if e := getEntry(t, db, second); e.State != Pending || e.Attempts != 0 {
		t.Errorf("second = state %s, attempts %d; want pending, untouched", e.State, e.Attempts)
	}
}

func TestWorkerWithoutSenderLeavesMailPending(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	w, _, logs := newTestWorker(db, nil)
	id := enqueueTest(t, db, "ada@example.com")

	deliverDue(t, w, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if e := getEntry(t, db, id); e.State != Pending || e.Attempts != 0 {
		t.Errorf("entry = state %s, attempts %d; want pending, untouched", e.State, e.Attempts)
	}
	if !strings.Contains(logs.String(), "mail delivery disabled") {
		t.Errorf("log lacks the disabled line:\n%s", logs)
	}
}

func TestExponentialBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{attempt: 0, min: 15 * time.Second, max: 30 * time.Second},
		{attempt: 1, min: 15 * time.Second, max: 30 * time.Second},
		{attempt: 2, min: 30 * time.Second, max: time.Minute},
		{attempt: 5, min: 4 * time.Minute, max: 8 * time.Minute},
		{attempt: 7, min: 16 * time.Minute, max: 32 * time.Minute},
		{attempt: 8, min: 30 * time.Minute, max: time.Hour},
		{attempt: 40, min: 30 * time.Minute, max: time.Hour},
	}
	for _, tc := range tests {
		for range 50 {
			if got := ExponentialBackoff(tc.attempt); got < tc.min || got > tc.max {
				t.Errorf("ExponentialBackoff(%d) = %v, want %v to %v", tc.attempt, got, tc.min, tc.max)
			}
		}
	}
}

func TestRedactError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		to   string
		want string
	}{
		{"address in other case", errors.New("550 <Ada@Example.com> unknown"), "ada@example.com", "550 <<recipient>> unknown"},
		{"display name form", errors.New("rcpt ada@example.com rejected"), "Ada <ada@example.com>", "rcpt <recipient> rejected"},
		{"long text cut", errors.New(strings.Repeat("é", 200)), "ada@example.com", strings.Repeat("é", 150) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := redactError(tc.err, tc.to); got != tc.want {
				t.Errorf("redactError = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWorkerSendTimeout(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	server := startSMTPServer(t, serverOptions{})
	server.stallData(t)
	w, _, _ := newTestWorker(db, newTestSender(t, server.addr).Send)
	w.SendTimeout = 200 * time.Millisecond
	id := enqueueTest(t, db, "ada@example.com")

	start := time.Now()
	deliverDue(t, w, 1)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("DeliverDue took %v, want the 200ms send timeout to end it", elapsed)
	}
	if e := getEntry(t, db, id); e.State != Pending || e.Attempts != 1 || e.LastError == "" {
		t.Errorf("entry = state %s, attempts %d, last error %q; want a recorded failure", e.State, e.Attempts, e.LastError)
	}
}

func TestWorkerRejectsInvalidSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(w *Worker)
		want   string
	}{
		{"lease shorter than send timeout", func(w *Worker) { w.Lease = w.SendTimeout }, "Lease (1m0s) must exceed SendTimeout"},
		{"no attempts", func(w *Worker) { w.MaxAttempts = 0 }, "MaxAttempts at least 1"},
		{"no clock", func(w *Worker) { w.Now = nil }, "Backoff and Now are required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWorker(nil, func(context.Context, Message) error { return nil }, slog.New(slog.DiscardHandler))
			tc.change(w)

			if err := w.Run(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run error = %v, want one containing %q", err, tc.want)
			}
			if _, err := w.DeliverDue(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("DeliverDue error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

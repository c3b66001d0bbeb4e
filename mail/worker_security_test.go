package mail

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/pgtest"
)

// TestWorkerErasesSentBodies checks that a delivered message keeps no
// body: its links (a token reveal, a password reset, a status page) must
// not stay usable by anyone who reads the outbox table or a backup of it.
// A message that failed keeps its body for the next attempt.
func TestWorkerErasesSentBodies(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	server := startSMTPServer(t, serverOptions{})
	w, _, _ := newTestWorker(db, newTestSender(t, server.addr).Send)
	id := enqueueTest(t, db, "ada@example.com")

	deliverDue(t, w, 1)

	e := getEntry(t, db, id)
	if e.State != Sent {
		t.Fatalf("state = %s, want sent", e.State)
	}
	if e.Text != "" {
		t.Errorf("text body after sending = %q, want empty", e.Text)
	}
	if e.HTML != "" {
		t.Errorf("HTML body after sending = %q, want empty", e.HTML)
	}
}

// TestWorkerKeepsFailedBodies checks that a failed delivery keeps the
// body, so the next attempt sends the whole message.
func TestWorkerKeepsFailedBodies(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	w, _, _ := newTestWorker(db, newTestSender(t, "127.0.0.1:1").Send)
	id := enqueueTest(t, db, "ada@example.com")

	deliverDue(t, w, 1)

	e := getEntry(t, db, id)
	if e.State != Pending {
		t.Fatalf("state = %s, want pending", e.State)
	}
	if e.Text == "" || e.HTML == "" {
		t.Errorf("bodies after a failed attempt: text %d bytes, HTML %d bytes; want both kept", len(e.Text), len(e.HTML))
	}
}

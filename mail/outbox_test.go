package mail

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/pgtest"
)

// setState puts an outbox row into a state directly, as a worker would.
func setState(t *testing.T, db *sqlx.DB, id int64, state State, claimedUntil *time.Time) {
	t.Helper()
	_, err := db.Exec(`UPDATE outbox SET state = $2, attempts = 3, last_error = 'boom', claimed_until = $3,
		sent_at = CASE WHEN $2 = 'sent' THEN now() END WHERE id = $1`, id, state, claimedUntil)
	if err != nil {
		t.Fatalf("set state of mail %d: %v", id, err)
	}
}

func TestEnqueueRejectsIncompleteMessage(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)

	_, err := Enqueue(context.Background(), db, Message{Kind: "test", To: "ada@example.com", Subject: "Hi"})
	if err == nil || !strings.Contains(err.Error(), "text body are required") {
		t.Errorf("error = %v, want one naming the required fields", err)
	}
}

func TestListFiltersAndPages(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	var ids []int64
	for _, to := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"} {
		ids = append(ids, enqueueTest(t, db, to))
	}
	setState(t, db, ids[1], Dead, nil)
	setState(t, db, ids[2], Sent, nil)

	tests := []struct {
		name   string
		filter ListFilter
		want   []int64
	}{
		{"every state newest first", ListFilter{}, []int64{ids[3], ids[2], ids[1], ids[0]}},
		{"pending only", ListFilter{State: Pending}, []int64{ids[3], ids[0]}},
		{"dead only", ListFilter{State: Dead}, []int64{ids[1]}},
		{"second page", ListFilter{Limit: 2, Offset: 2}, []int64{ids[1], ids[0]}},
		{"past the end", ListFilter{Offset: 10}, []int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := List(ctx, db, tc.filter)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			got := []int64{}
			for _, e := range entries {
				got = append(got, e.ID)
				if e.Text != "" || e.HTML != "" {
					t.Errorf("entry %d has bodies, want none in a list", e.ID)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("IDs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListRejectsBadPage(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	for _, f := range []ListFilter{{Limit: -1}, {Limit: MaxListLimit + 1}, {Offset: -1}} {
		if _, err := List(context.Background(), db, f); err == nil {
			t.Errorf("List(%+v) succeeded, want an error", f)
		}
	}
}

func TestGetReturnsBodies(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	id := enqueueTest(t, db, "ada@example.com")

	e, err := Get(context.Background(), db, id)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	want, _ := VerifyRequest("ada@example.com", "Ada", "Example", "GH-7K2P", "https://gatehouse.test/setup/verify/v-secret", "https://gatehouse.test/setup/status/s-secret")
	if diff := cmp.Diff(want, e.Message); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	if e.State != Pending || e.Attempts != 0 || e.SentAt != nil || e.CreatedAt.IsZero() {
		t.Errorf("entry = state %s, attempts %d, sent at %v, created at %v; want a fresh pending entry", e.State, e.Attempts, e.SentAt, e.CreatedAt)
	}

	if _, err := Get(context.Background(), db, id+1000); !errors.Is(err, database.ErrNotFound) {
		t.Errorf("Get of unknown ID error = %v, want database.ErrNotFound", err)
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	future := time.Now().Add(time.Hour)
	past := time.Now().Add(-time.Hour)

	tests := []struct {
		name         string
		state        State
		claimedUntil *time.Time
		want         error
	}{
		{"dead mail", Dead, nil, nil},
		{"pending mail", Pending, nil, nil},
		{"pending mail with an expired lease", Pending, &past, nil},
		{"mail being sent", Pending, &future, ErrSending},
		{"sent mail", Sent, nil, ErrAlreadySent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := enqueueTest(t, db, "ada@example.com")
			setState(t, db, id, tc.state, tc.claimedUntil)

			err := Retry(context.Background(), db, id)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Retry error = %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				if !errors.Is(err, database.ErrConflict) {
					t.Errorf("Retry error = %v, want one matching database.ErrConflict", err)
				}
				return
			}

			e := getEntry(t, db, id)
			if e.State != Pending || e.Attempts != 0 || e.LastError != "" || e.NextAttemptAt.After(time.Now().Add(time.Second)) {
				t.Errorf("entry = state %s, attempts %d, last error %q, next attempt %v; want pending now with attempts reset",
					e.State, e.Attempts, e.LastError, e.NextAttemptAt)
			}
		})
	}

	if err := Retry(context.Background(), db, 999999); !errors.Is(err, database.ErrNotFound) {
		t.Errorf("Retry of unknown ID error = %v, want database.ErrNotFound", err)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()

	empty, err := Stats(ctx, db)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if diff := cmp.Diff(OutboxStats{}, empty); diff != "" {
		t.Errorf("stats of an empty outbox (-want +got):\n%s", diff)
	}

	old := enqueueTest(t, db, "a@example.com")
	enqueueTest(t, db, "b@example.com")
	setState(t, db, enqueueTest(t, db, "c@example.com"), Dead, nil)
	setState(t, db, enqueueTest(t, db, "d@example.com"), Sent, nil)
	if _, err := db.Exec(`UPDATE outbox SET created_at = now() - interval '2 hours' WHERE id = $1`, old); err != nil {
		t.Fatalf("age mail: %v", err)
	}

	got, err := Stats(ctx, db)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if got.Pending != 2 || got.Dead != 1 {
		t.Errorf("counts = %d pending, %d dead; want 2 and 1", got.Pending, got.Dead)
	}
	if got.OldestPending < 2*time.Hour || got.OldestPending > 2*time.Hour+time.Minute {
		t.Errorf("oldest pending = %v, want about 2h", got.OldestPending)
	}
}

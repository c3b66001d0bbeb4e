package tenants_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/pgtest"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

func TestPruneSCIMRequests(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	ctx := context.Background()
	acme, _ := newTenant(t, store, "acme")
	globex, _ := newTenant(t, store, "globex")

	// 12,000 old entries take three batches, and the recent ones of both
	// tenants stay. An old entry stored after recent ones goes too.
	if _, err := db.ExecContext(ctx, `
		INSERT INTO scim_request_log (tenant_id, at, method, path, status, latency_us)
		SELECT CASE WHEN i % 2 = 0 THEN $1 ELSE $2 END::uuid, now() - interval '100 days', 'GET', '/Users', 200, 100
		FROM generate_series(1, 12000) AS i`, acme.ID, globex.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `
		INSERT INTO scim_request_log (tenant_id, at, method, path, status, latency_us)
		VALUES ($1, now(), 'GET', '/Users', 200, 1), ($2, now() - interval '1 day', 'POST', '/Users', 201, 1),
			($1, now() - interval '91 days', 'GET', '/Users/x', 404, 1)`, acme.ID, globex.ID); err != nil {
		t.Fatal(err)
	}

	n, err := store.PruneSCIMRequests(ctx, time.Now().Add(-tenants.SCIMLogRetention))
	if err != nil {
		t.Fatal(err)
	}
	if n != 12001 {
		t.Errorf("pruned %d entries, want 12001", n)
	}
	var left []int
	if err := db.SelectContext(ctx, &left, `SELECT latency_us FROM scim_request_log ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0] != 1 || left[1] != 1 {
		t.Errorf("left entries with latencies %v, want the two recent ones [1 1]", left)
	}
}

func TestDeleteExpiredSessions(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	store := tenants.NewStore(db)
	ctx := context.Background()
	tenant, _ := newTenant(t, store, "acme")
	var userID string
	if err := db.GetContext(ctx, &userID, `INSERT INTO users (tenant_id, user_name) VALUES ($1, 'ann@acme.example') RETURNING id`, tenant.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `
		INSERT INTO sessions (id_hash, user_id, tenant_id, expires_at) VALUES
			('\x01', $1, $2, now() - interval '1 minute'), ('\x02', $1, $2, now() + interval '1 hour')`, userID, tenant.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `
		INSERT INTO password_links (link_hash, user_id, expires_at) VALUES
			('\x01', $1, now() - interval '1 minute'), ('\x02', $1, now() + interval '1 hour')`, userID); err != nil {
		t.Fatal(err)
	}

	n, err := store.DeleteExpiredSessions(ctx, time.Now())
	if err != nil || n != 2 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want 2", n, err)
	}
	var left []string
	if err := db.SelectContext(ctx, &left, `
		SELECT 'session ' || encode(id_hash, 'hex') FROM sessions
		UNION ALL SELECT 'link ' || encode(link_hash, 'hex') FROM password_links ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0] != "link 02" || left[1] != "session 02" {
		t.Errorf("left %q, want the unexpired link and session", left)
	}
}

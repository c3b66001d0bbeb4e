package tenants

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
)

// SCIMRequest is one entry of a tenant's SCIM request log. It never holds a
// body, a query string or a token.
type SCIMRequest struct {
	ID        int64         `db:"id"`
	TenantID  string        `db:"tenant_id"`
	At        time.Time     `db:"at"`
	Method    string        `db:"method"`
	Path      string        `db:"path"`
	Status    int           `db:"status"`
	Latency   time.Duration `db:"-"`
	LatencyUS int64         `db:"latency_us"`
	// SCIMType and Detail repeat the SCIM error sent back; empty on success.
	SCIMType  string `db:"scim_type"`
	Detail    string `db:"detail"`
	RequestID string `db:"request_id"`
}

// AppendSCIMRequests stores a batch of request log entries in one statement.
func (s *Store) AppendSCIMRequests(ctx context.Context, entries []SCIMRequest) error {
	if len(entries) == 0 {
		return nil
	}
	cols := make([][]string, 9)
	for _, e := range entries {
		values := []string{e.TenantID, e.At.UTC().Format(time.RFC3339Nano), e.Method, e.Path, fmt.Sprint(e.Status),
			fmt.Sprint(e.Latency.Microseconds()), e.SCIMType, e.Detail, e.RequestID}
		for i, v := range values {
			cols[i] = append(cols[i], v)
		}
	}
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO scim_request_log (tenant_id, at, method, path, status, latency_us, scim_type, detail, request_id)
		SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::integer[], $6::integer[],
			$7::text[], $8::text[], $9::text[])`,
		stringArray(cols[0]), stringArray(cols[1]), stringArray(cols[2]), stringArray(cols[3]), stringArray(cols[4]),
		stringArray(cols[5]), stringArray(cols[6]), stringArray(cols[7]), stringArray(cols[8]))
	if err != nil {
		return fmt.Errorf("append SCIM request log: %w", database.Translate(err))
	}
	return nil
}

// SCIMRequests pages through a tenant's SCIM request log, newest first:
// it returns up to limit entries (at most 500) older than the entry with
// ID before, or the newest ones when before is zero. Pass the last
// entry's ID as before to get the next page.
func (s *Store) SCIMRequests(ctx context.Context, tenantID string, before int64, limit int) ([]SCIMRequest, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	var out []SCIMRequest
	err := sqlx.SelectContext(ctx, s.db, &out, `
		SELECT id, tenant_id, at, method, path, status, latency_us, scim_type, detail, request_id
		FROM scim_request_log
		WHERE tenant_id = $1 AND ($2 = 0 OR id < $2)
		ORDER BY id DESC LIMIT $3`, tenantID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("list SCIM requests: %w", database.Translate(err))
	}
	for i := range out {
		out[i].Latency = time.Duration(out[i].LatencyUS) * time.Microsecond
	}
	return out, nil
}

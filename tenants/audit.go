package tenants

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
)

// AuditEvent is one row of the append-only audit trail.
type AuditEvent struct {
	ID        int64     `db:"id"`
	At        time.Time `db:"at"`
	Actor     string    `db:"actor"`  // "staff:<email>", "contact:<email>", "operator", "system", "scim"
	Action    string    `db:"action"` // dotted verb, e.g. "token.issue", "request.approve"
	TenantID  *string   `db:"tenant_id"`
	RequestID *string   `db:"request_id"`
	ClientIP  string    `db:"client_ip"`
	// Detail holds IDs and settings, never secrets or personal data beyond the actor.
	Detail     map[string]any `db:"-"`
	DetailJSON []byte         `db:"detail"`
}

// Audit appends an event. Run it in the same transaction as the action it
// records, so an action is never left unaudited.
func (s *Store) Audit(ctx context.Context, e AuditEvent) error {
	detail, err := json.Marshal(e.Detail)
	if err != nil || e.Detail == nil {
		detail = []byte("{}")
	}
	// The detail goes as text: with binary_parameters=yes, lib/pq would send
	// []byte in binary form, which jsonb rejects.
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO audit_log (actor, action, tenant_id, request_id, client_ip, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.Actor, e.Action, e.TenantID, e.RequestID, e.ClientIP, string(detail))
	if err != nil {
		return fmt.Errorf("write audit event %s: %w", e.Action, database.Translate(err))
	}
	return nil
}

// AuditFilter narrows an audit listing; empty fields match everything.
type AuditFilter struct {
	TenantID  string
	RequestID string
	Action    string // exact action, or a prefix ending in "." such as "token."
	Actor     string // exact actor, such as "staff:ana@example.com"
	BeforeID  int64  // only events with a smaller ID, for paging; 0 for the newest
	Limit     int    // 1 to 1000; anything else means 200
}

const auditColumns = `id, at, actor, action, tenant_id, request_id, client_ip, detail`

// auditWhere is the WHERE clause for an AuditFilter's first five fields,
// as $1 to $5.
const auditWhere = `($1 = '' OR tenant_id = $1::uuid) AND ($2 = '' OR request_id = $2::uuid)
		AND ($3 = '' OR action = $3 OR (right($3, 1) = '.' AND starts_with(action, $3)))
		AND ($4 = '' OR actor = $4) AND ($5 = 0 OR id < $5)`

func (f AuditFilter) args() []any {
	return []any{f.TenantID, f.RequestID, f.Action, f.Actor, f.BeforeID}
}

// AuditLog lists events newest first.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 200
	}
	out := []AuditEvent{}
	err := sqlx.SelectContext(ctx, s.db, &out, `
		SELECT `+auditColumns+` FROM audit_log WHERE `+auditWhere+`
		ORDER BY id DESC LIMIT $6`, append(f.args(), f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", database.Translate(err))
	}
	for i := range out {
		json.Unmarshal(out[i].DetailJSON, &out[i].Detail)
	}
	return out, nil
}

// EachAuditEvent calls fn for every event that f matches, oldest first,
// reading rows as it goes so an export of any size uses little memory.
// f.Limit is ignored. An error from fn stops the iteration and is returned.
func (s *Store) EachAuditEvent(ctx context.Context, f AuditFilter, fn func(AuditEvent) error) error {
	rows, err := s.db.QueryxContext(ctx, `
		SELECT `+auditColumns+` FROM audit_log WHERE `+auditWhere+` ORDER BY id`, f.args()...)
	if err != nil {
		return fmt.Errorf("export audit events: %w", database.Translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var e AuditEvent
		if err := rows.StructScan(&e); err != nil {
			return fmt.Errorf("read audit event: %w", database.Translate(err))
		}
		json.Unmarshal(e.DetailJSON, &e.Detail)
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export audit events: %w", database.Translate(err))
	}
	return nil
}

// Ptr returns a pointer to s, or nil for the empty string, for optional IDs.
func Ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

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
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO audit_log (actor, action, tenant_id, request_id, client_ip, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.Actor, e.Action, e.TenantID, e.RequestID, e.ClientIP, detail)
	if err != nil {
		return fmt.Errorf("write audit event %s: %w", e.Action, database.Translate(err))
	}
	return nil
}

// AuditFilter narrows an audit listing; empty fields match everything.
type AuditFilter struct {
	TenantID  string
	RequestID string
	Action    string
	Limit     int
}

// AuditLog lists events newest first.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 200
	}
	var out []AuditEvent
	err := sqlx.SelectContext(ctx, s.db, &out, `
		SELECT id, at, actor, action, tenant_id, request_id, client_ip, detail FROM audit_log
		WHERE ($1 = '' OR tenant_id = $1::uuid) AND ($2 = '' OR request_id = $2::uuid) AND ($3 = '' OR action = $3)
		ORDER BY id DESC LIMIT $4`, f.TenantID, f.RequestID, f.Action, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", database.Translate(err))
	}
	for i := range out {
		json.Unmarshal(out[i].DetailJSON, &out[i].Detail)
	}
	return out, nil
}

// Ptr returns a pointer to s, or nil for the empty string, for optional IDs.
func Ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

package tenants

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/database"
)

// SCIMLogRetention is how long the SCIM request log keeps a request: long
// enough to look back at a provisioning problem a customer reports weeks
// later, short enough that the table does not grow with every request
// ever made.
const SCIMLogRetention = 90 * 24 * time.Hour

// pruneBatch is how many rows one DELETE of PruneSCIMRequests removes, so
// that no statement holds its locks or writes its WAL for long.
const pruneBatch = 5000

// PruneSCIMRequests deletes the SCIM request log entries older than
// before, one batch per statement, and returns how many it deleted.
func (s *Store) PruneSCIMRequests(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		// Entries get their IDs in the order they are written, so the
		// oldest come first in the primary key. An old entry stored after
		// newer ones can stay until a later run.
		res, err := s.db.ExecContext(ctx, `
			DELETE FROM scim_request_log WHERE id IN (
				SELECT id FROM scim_request_log ORDER BY id LIMIT $2
			) AND at < $1`, before, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("prune SCIM request log: %w", database.Translate(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("prune SCIM request log: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// DeleteExpiredSessions deletes the sessions that expired before now, of
// staff and of tenant users alike, and the password links that expired.
// Both are rejected once expired, so their rows are of no further use.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.db.QueryRowxContext(ctx, `
		WITH links AS (DELETE FROM password_links WHERE expires_at < $1 RETURNING 1),
		     sessions AS (DELETE FROM sessions WHERE expires_at < $1 RETURNING 1)
		SELECT (SELECT count(*) FROM links) + (SELECT count(*) FROM sessions)`, now).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", database.Translate(err))
	}
	return n, nil
}

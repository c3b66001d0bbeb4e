package tenants

import (
	"context"
	"sync"

	"github.com/jmoiron/sqlx"
)

// PostgreSQL spends longer planning the SCIM user statements than running
// them, so the hot ones run as prepared statements when the store is on a
// pool. database/sql prepares each on a connection the first time that
// connection runs it.

// maxPreparedStatements bounds the cache, one entry per pool and query.
// Queries beyond it run unprepared.
const maxPreparedStatements = 512

type preparedKey struct {
	db    *sqlx.DB
	query string
}

var (
	preparedMu sync.RWMutex
	prepared   = make(map[preparedKey]*sqlx.Stmt)
)

// getPrepared is sqlx.GetContext through a cached prepared statement
// when the store runs on a pool, and a plain query in a transaction.
func (s *Store) getPrepared(ctx context.Context, dest any, query string, args ...any) error {
	db, ok := s.db.(*sqlx.DB)
	if !ok {
		return sqlx.GetContext(ctx, s.db, dest, query, args...)
	}
	stmt, err := preparedStatement(ctx, db, query)
	if err != nil {
		return err
	}
	if stmt == nil {
		return sqlx.GetContext(ctx, db, dest, query, args...)
	}
	return stmt.GetContext(ctx, dest, args...)
}

// preparedStatement returns the cached statement for query on db,
// preparing it on first use, or nil when the cache is full. A statement
// stays cached, and open, as long as the process runs: closing one could
// fail a request that is using it.
func preparedStatement(ctx context.Context, db *sqlx.DB, query string) (*sqlx.Stmt, error) {
	key := preparedKey{db, query}
	preparedMu.RLock()
	stmt, ok := prepared[key]
	full := len(prepared) >= maxPreparedStatements
	preparedMu.RUnlock()
	if ok || full {
		return stmt, nil
	}

	stmt, err := db.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	preparedMu.Lock()
	defer preparedMu.Unlock()
	if have, ok := prepared[key]; ok {
		stmt.Close()
		return have, nil
	}
	prepared[key] = stmt
	return stmt, nil
}

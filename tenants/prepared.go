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
const maxPreparedStatements = 512

type preparedKey struct {
	db    *sqlx.DB
	query string
}

var (
	preparedMu sync.Mutex
	prepared   = make(map[preparedKey]*sqlx.Stmt)
)

// getPrepared is sqlx.GetContext through a cached prepared statement
// when the store runs on a pool, and a plain query in a transaction.
func (s *Store) getPrepared(ctx context.Context, dest any, query string, args ...any) error {
	db, ok := s.db.(*sqlx.DB)
	if !ok {
		return sqlx.GetContext(ctx, s.db, dest, query, args...)
	}
	key := preparedKey{db, query}
	preparedMu.Lock()
	stmt := prepared[key]
	preparedMu.Unlock()
	if stmt == nil {
		var err error
		if stmt, err = db.PreparexContext(ctx, query); err != nil {
			return err
		}
		preparedMu.Lock()
		if len(prepared) >= maxPreparedStatements {
			for k, old := range prepared {
				old.Close()
				delete(prepared, k)
			}
		}
		prepared[key] = stmt
		preparedMu.Unlock()
	}
	return stmt.GetContext(ctx, dest, args...)
}

package scim

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/database"
)

// knownTokenMaxAge bounds the age of the set of active token hashes that
// a blocked request is checked against. Each instance loads the set at
// most once per interval, failed loads included, and only while some
// address is blocked. So a flood of guesses costs one query per interval.
// A token issued after the last load waits for the next one.
const knownTokenMaxAge = time.Minute

// knownTokens holds the SHA-256 hashes of the tokens that were active at
// its last load. A request from an address that has used up its failed
// authentications still gets its lookup when its token is in the set.
// Customers of one cloud IdP share its egress addresses, so without the
// set one customer sending wrong tokens would lock every other customer's
// IdP out whenever its token is not cached, after a restart or a
// rotation. A guessed token is not in the set.
type knownTokens struct {
	loads singleflight.Group

	mu       sync.Mutex
	hashes   map[[32]byte]struct{}
	loadedAt time.Time
}

// activeTokenHashesSQL selects the hash of every token that
// tenants.Store.TokenByHash would accept and whose tenant has SCIM on.
const activeTokenHashesSQL = `SELECT k.hash FROM scim_tokens k JOIN tenants t ON t.id = k.tenant_id
	WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()) AND t.scim_enabled`

// knownToken reports whether hash belongs to a token that was active at
// the last load of the set, loading it first when it is older than
// knownTokenMaxAge. A failed load keeps the previous set until the next
// interval and is logged.
func (s *Server) knownToken(ctx context.Context, hash [32]byte) bool {
	k := &s.known
	now := s.now()
	k.mu.Lock()
	stale := now.Sub(k.loadedAt) >= knownTokenMaxAge
	k.mu.Unlock()
	if stale {
		k.loads.Do("load", func() (any, error) {
			// A load that finished while this request waited for the
			// lock is fresh enough.
			k.mu.Lock()
			stale := now.Sub(k.loadedAt) >= knownTokenMaxAge
			k.mu.Unlock()
			if stale {
				s.loadKnownTokens(context.WithoutCancel(ctx), now)
			}
			return nil, nil
		})
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.hashes[hash]
	return ok
}

// loadKnownTokens replaces the set with the hashes of the active tokens.
func (s *Server) loadKnownTokens(ctx context.Context, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, tokenLookupTimeout)
	defer cancel()
	var rows [][]byte
	err := s.db.SelectContext(ctx, &rows, activeTokenHashesSQL)
	if err != nil {
		err = fmt.Errorf("load active token hashes: %w", database.Translate(err))
		s.logFailure(ctx, "scim_known_tokens_failed", "error", err)
	}

	hashes := make(map[[32]byte]struct{}, len(rows))
	for _, h := range rows {
		if len(h) == 32 {
			hashes[[32]byte(h)] = struct{}{}
		}
	}
	s.known.mu.Lock()
	defer s.known.mu.Unlock()
	s.known.loadedAt = now
	if err == nil {
		s.known.hashes = hashes
	}
}

// forgetKnownToken drops hash from the set after its lookup found the
// token revoked or expired, or its tenant's SCIM off, so that further
// requests with it from a blocked address get 429 without a lookup.
func (s *Server) forgetKnownToken(hash [32]byte) {
	s.known.mu.Lock()
	defer s.known.mu.Unlock()
	delete(s.known.hashes, hash)
}

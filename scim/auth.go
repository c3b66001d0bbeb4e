package scim

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/secrets"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// How tokens are checked.
//
// The first request with a token looks its SHA-256 up in scim_tokens and
// caches the token ID and tenant under the hash. Later requests cost no
// query of their own: every statement a request runs carries
// tenants.SCIMTokenActiveSQL in its WHERE clause, so the work happens only
// while the token is active and its tenant has SCIM on. A revocation, an
// expiry or SCIM being switched off therefore takes effect for every
// instance as soon as it commits. When a statement matches nothing, the
// handler checks the token to tell 401 from 404, and forgets the hash
// on 401.

// tokenCacheTTL bounds how long a cached tenant's name and settings are
// used before they are read again. The token's validity is checked on
// every request regardless.
const tokenCacheTTL = 5 * time.Minute

// maxCachedTokens bounds the cache; it is emptied when full.
const maxCachedTokens = 10000

type cachedToken struct {
	tokenID  string
	tenant   tenants.Tenant
	loadedAt time.Time
}

type tokenCache struct {
	now     func() time.Time
	mu      sync.RWMutex
	entries map[[32]byte]cachedToken
}

func newTokenCache(now func() time.Time) *tokenCache {
	return &tokenCache{now: now, entries: make(map[[32]byte]cachedToken)}
}

func (c *tokenCache) get(hash [32]byte) (cachedToken, bool) {
	c.mu.RLock()
	e, ok := c.entries[hash]
	c.mu.RUnlock()
	if !ok || c.now().Sub(e.loadedAt) > tokenCacheTTL {
		return cachedToken{}, false
	}
	return e, true
}

func (c *tokenCache) put(hash [32]byte, e cachedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedTokens {
		clear(c.entries)
	}
	c.entries[hash] = e
}

func (c *tokenCache) forget(hash [32]byte) {
	c.mu.Lock()
	delete(c.entries, hash)
	c.mu.Unlock()
}

// authenticate finds the tenant of the request's bearer token. It reads
// only the Authorization header, never the body.
func (s *Server) authenticate(r *http.Request) (*call, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, errUnauthorized
	}
	hash := sha256.Sum256([]byte(token))
	if e, ok := s.tokens.get(hash); ok {
		return &call{tenant: e.tenant, tokenID: e.tokenID, hash: hash}, nil
	}
	if !secrets.LooksLikeToken(token) {
		return nil, errUnauthorized
	}

	rec, tenant, err := s.store.TokenByHash(r.Context(), hash[:])
	if errors.Is(err, tenants.ErrUnauthorized) || err == nil && !tenant.SCIM {
		return nil, errUnauthorized
	}
	if err != nil {
		return nil, err
	}
	s.tokens.put(hash, cachedToken{tokenID: rec.ID, tenant: tenant, loadedAt: s.now()})
	return &call{tenant: tenant, tokenID: rec.ID, hash: hash}, nil
}

// tokenActive reports whether the request's token is still active, for
// telling 401 from 404 after a statement matched nothing.
func (s *Server) tokenActive(ctx context.Context, c *call) (bool, error) {
	var ok bool
	err := s.get(ctx, &ok, `SELECT `+tokenActiveSQL, c.tenant.ID, c.tokenID)
	return ok, err
}

// notFoundOrUnauthorized returns the error for a guarded read that found
// nothing.
func (s *Server) notFoundOrUnauthorized(ctx context.Context, c *call) error {
	ok, err := s.tokenActive(ctx, c)
	switch {
	case err != nil:
		return err
	case !ok:
		return errUnauthorized
	}
	return errorf(http.StatusNotFound, "", "Resource not found.")
}

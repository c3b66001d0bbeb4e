package scim

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
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

// get returns the entry for hash while it is fresh. seen reports whether
// the hash has an entry at all, fresh or not: the token was valid when
// it was loaded.
func (c *tokenCache) get(hash [32]byte) (e cachedToken, fresh, seen bool) {
	c.mu.RLock()
	e, seen = c.entries[hash]
	c.mu.RUnlock()
	if !seen || c.now().Sub(e.loadedAt) > tokenCacheTTL {
		return cachedToken{}, false, seen
	}
	return e, true, true
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
// only the Authorization header, never the body. A token in the cache
// costs no lookup, or one to reload it once its entry is stale. Any other
// request takes a token from its client's bucket of failed
// authentications, given back when it succeeds. Once the bucket is empty
// it gets 429 without a lookup, unless its token is among the known
// active tokens (see knownTokens).
func (s *Server) authenticate(r *http.Request) (*call, error) {
	token, ok := bearerToken(r)
	hash := sha256.Sum256([]byte(token))
	e, fresh, seen := s.tokens.get(hash)
	if ok && fresh {
		return &call{tenant: e.tenant, tokenID: e.tokenID, hash: hash}, nil
	}
	if !ok || !secrets.LooksLikeToken(token) {
		if _, err := s.beginAuth(r, nil, false); err != nil {
			return nil, err
		}
		return nil, errUnauthorized
	}

	// Requests that bring the same token at once share one lookup, so an
	// IdP that opens with many parallel requests takes one token from
	// its bucket instead of one each.
	v, err, _ := s.lookups.Do(string(hash[:]), func() (any, error) { return s.loadToken(r, hash, seen) })
	if err != nil {
		return nil, err
	}
	e = v.(cachedToken)
	return &call{tenant: e.tenant, tokenID: e.tokenID, hash: hash}, nil
}

// tokenLookupTimeout bounds a token lookup, which runs apart from the
// request that started it because other requests wait for its result.
const tokenLookupTimeout = 10 * time.Second

// loadToken looks a token up by its hash and caches it when it is valid.
func (s *Server) loadToken(r *http.Request, hash [32]byte, seen bool) (cachedToken, error) {
	attempt, err := s.beginAuth(r, &hash, seen)
	if err != nil {
		return cachedToken{}, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), tokenLookupTimeout)
	defer cancel()
	rec, tenant, err := s.store.TokenByHash(ctx, hash[:])
	if errors.Is(err, tenants.ErrUnauthorized) || err == nil && !tenant.SCIM {
		s.tokens.forget(hash)
		s.forgetKnownToken(hash)
		return cachedToken{}, errUnauthorized
	}
	attempt.succeeded()
	if err != nil {
		return cachedToken{}, err
	}
	e := cachedToken{tokenID: rec.ID, tenant: tenant, loadedAt: s.now()}
	s.tokens.put(hash, e)
	return e, nil
}

// beginAuth takes a token from the bucket of failed authentications of
// r's client, unless the request's token was valid when last loaded. When
// the bucket is empty, a request whose token hash is among the known
// active tokens (see knownTokens) goes on without one. hash is nil for a
// request without a well-formed token.
func (s *Server) beginAuth(r *http.Request, hash *[32]byte, seen bool) (authAttempt, error) {
	if seen {
		return authAttempt{}, nil
	}
	attempt, wait, allowed := s.authLimiters.begin(clientAddr(r), s.now())
	if allowed {
		return attempt, nil
	}
	if hash != nil && s.knownToken(r.Context(), *hash) {
		return authAttempt{}, nil
	}
	return authAttempt{}, &authThrottled{wait: wait}
}

// bearerToken returns the token of the request's Authorization header, and
// false when the header does not carry one.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

// authThrottled is the error of a request refused because its client
// failed to authenticate too often. wait is how long until it may try
// again.
type authThrottled struct {
	wait time.Duration
}

func (e *authThrottled) Error() string {
	return fmt.Sprintf("too many failed authentications; retry after %s", e.wait)
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

package scim

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiters holds one token bucket per tenant. Tenants are few, so the map
// is never pruned.
type limiters struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	byID  map[string]*rate.Limiter
}

func newLimiters(limit rate.Limit, burst int) *limiters {
	return &limiters{limit: limit, burst: burst, byID: make(map[string]*rate.Limiter)}
}

// allow takes one token from the tenant's bucket at time now. When the
// bucket is empty it returns how long until a token is free.
func (l *limiters) allow(tenantID string, now time.Time) (time.Duration, bool) {
	if l.limit == rate.Inf {
		return 0, true
	}
	l.mu.Lock()
	lim, ok := l.byID[tenantID]
	if !ok {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.byID[tenantID] = lim
	}
	l.mu.Unlock()

	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Second, false
	}
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return wait, false
	}
	return 0, true
}

package scim

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Default limit on failed authentications per client address: a client
// may fail 10 times at once and then once a second. A request whose
// token the server has cached as valid never counts and is never
// limited. Once an address has no failures left, a request from it still
// gets its lookup when its token was active at the last load of
// knownTokens.
//
// NOTE: a token issued after that load gets 429 from such an address
// until the next load, at most knownTokenMaxAge later.
const (
	DefaultAuthFailureLimit rate.Limit = 1
	DefaultAuthFailureBurst            = 10
)

// maxAuthLimiters bounds the client addresses tracked at once. Addresses
// beyond it share one limiter, so a flood from more addresses than that
// still cannot load the database.
const maxAuthLimiters = 10000

// authSweepInterval is how often limiters that have refilled, and so
// hold no state, are dropped.
const authSweepInterval = time.Minute

// authLimiters limits the authentications that may fail, per client
// address: each costs a token lookup in the database, so a flood of
// guessed tokens must not reach it unchecked.
type authLimiters struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	byAddr    map[string]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time
}

func newAuthLimiters(limit rate.Limit, burst int) *authLimiters {
	return &authLimiters{
		limit: limit, burst: burst,
		byAddr: make(map[string]*rate.Limiter), overflow: rate.NewLimiter(limit, burst),
	}
}

// authAttempt is an authentication that has taken one token from its
// client's bucket. A success gives the token back.
type authAttempt struct {
	reservation *rate.Reservation
	at          time.Time
}

// succeeded returns the token the attempt took, so only failures count.
func (a authAttempt) succeeded() {
	if a.reservation != nil {
		a.reservation.CancelAt(a.at)
	}
}

// begin takes a token for an authentication from addr at time now. When
// addr has no token left, it returns false and how long until one is free.
func (l *authLimiters) begin(addr string, now time.Time) (authAttempt, time.Duration, bool) {
	if l.limit == rate.Inf {
		return authAttempt{}, 0, true
	}
	r := l.limiter(addr, now).ReserveN(now, 1)
	if !r.OK() {
		return authAttempt{}, time.Second, false
	}
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return authAttempt{}, wait, false
	}
	return authAttempt{reservation: r, at: now}, 0, true
}

func (l *authLimiters) limiter(addr string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim, ok := l.byAddr[addr]; ok {
		return lim
	}
	// A full map is swept at most once a second, so a flood from many
	// addresses does not cost a pass over the map for each request.
	sinceSweep := now.Sub(l.lastSweep)
	if sinceSweep >= authSweepInterval || len(l.byAddr) >= maxAuthLimiters && sinceSweep >= time.Second {
		l.sweep(now)
	}
	if len(l.byAddr) >= maxAuthLimiters {
		return l.overflow
	}
	lim := rate.NewLimiter(l.limit, l.burst)
	l.byAddr[addr] = lim
	return lim
}

// sweep drops the limiters whose bucket is full again: a new limiter for
// the same address would behave the same.
func (l *authLimiters) sweep(now time.Time) {
	l.lastSweep = now
	for addr, lim := range l.byAddr {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.byAddr, addr)
		}
	}
}

type clientAddrKey struct{}

// WithClientAddr returns a context that names the address of the client
// that sent the request, for a server behind a load balancer whose
// middleware reads it from X-Forwarded-For. Without it, the server takes
// the TCP peer's address.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// clientAddr returns the key under which r's failed authentications are
// counted: the client's IPv4 address, or the /64 network of its IPv6
// address, since one IPv6 host commonly controls a whole /64.
func clientAddr(r *http.Request) string {
	addr, _ := r.Context().Value(clientAddrKey{}).(string)
	if addr == "" {
		addr = r.RemoteAddr
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	prefix, _ := ip.Prefix(64)
	return prefix.String()
}

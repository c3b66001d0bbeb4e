package portal

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// maxLimiterKeys bounds the memory one keyedLimiter uses. Past it, keys
// whose bucket has refilled are dropped. When none has, new keys share one
// overflow bucket until some do, so a flood of distinct keys cannot reset
// the buckets of the keys already counted.
const maxLimiterKeys = 10000

// keyedLimiter keeps one token bucket per key (a client address or an
// email address).
//
// NOTE: buckets live in this process, so each instance behind a load
// balancer counts on its own and a client may get the allowance once per
// instance. That still bounds mail and work per client; limits shared
// across instances would need the database.
type keyedLimiter struct {
	mu      sync.Mutex
	every   time.Duration // one more attempt per every
	burst   int
	buckets map[string]*rate.Limiter
	// overflow is the bucket of new keys while buckets is full.
	overflow *rate.Limiter
	// swept is when makeRoom last looked for refilled buckets, so that a
	// flood of new keys costs one sweep a second, not one a request.
	swept time.Time
}

func newKeyedLimiter(every time.Duration, burst int) *keyedLimiter {
	return &keyedLimiter{
		every: every, burst: burst, buckets: make(map[string]*rate.Limiter),
		overflow: rate.NewLimiter(rate.Every(every), burst),
	}
}

// allow takes one attempt from key's bucket at now. When the bucket is
// empty it returns false and how long until the next attempt is allowed.
func (l *keyedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()

	bucket, ok := l.buckets[key]
	switch {
	case ok:
	case l.makeRoom(now):
		bucket = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.buckets[key] = bucket
	default:
		bucket = l.overflow
	}
	reservation := bucket.ReserveN(now, 1)
	if delay := reservation.DelayFrom(now); delay > 0 {
		reservation.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// makeRoom reports whether a new key can have a bucket of its own, after
// dropping the buckets that have refilled when the map is full.
func (l *keyedLimiter) makeRoom(now time.Time) bool {
	if len(l.buckets) < maxLimiterKeys {
		return true
	}
	if now.Sub(l.swept) < time.Second {
		return false
	}
	l.swept = now
	for key, bucket := range l.buckets {
		if bucket.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, key)
		}
	}
	return len(l.buckets) < maxLimiterKeys
}

// setupLimits are the setup portal's rate limits, per client address and
// per contact email address, on the actions that send mail or look up a
// link: submitting, verifying and re-sending links.
type setupLimits struct {
	submitByIP    *keyedLimiter
	submitByEmail *keyedLimiter
	verifyByIP    *keyedLimiter
	verifyByEmail *keyedLimiter
	resendByIP    *keyedLimiter
	resendByEmail *keyedLimiter
}

// newSetupLimits allows a person to fix a form many times over and to
// create a few requests, while one address cannot flood an inbox or try
// link secrets at speed.
func newSetupLimits() *setupLimits {
	return &setupLimits{
		submitByIP:    newKeyedLimiter(2*time.Minute, 20),
		submitByEmail: newKeyedLimiter(20*time.Minute, 3),
		verifyByIP:    newKeyedLimiter(30*time.Second, 30),
		verifyByEmail: newKeyedLimiter(time.Minute, 10),
		resendByIP:    newKeyedLimiter(5*time.Minute, 5),
		resendByEmail: newKeyedLimiter(30*time.Minute, 3),
	}
}

// Limits of a contact's token rotations and of staff password resets.
// Each bucket allows its maximum at once and refills one attempt per
// interval. A person rotates or resets once or twice, so only scripts
// reach them.
const (
	maxRotationsPerTenant  = 5
	rotationPerTenantEvery = 30 * time.Minute
	maxRotationsPerClient  = 10
	rotationPerClientEvery = 6 * time.Minute
	maxResetsPerEmail      = 5
	resetPerEmailEvery     = 15 * time.Minute
	maxResetsPerClient     = 10
	resetPerClientEvery    = 6 * time.Minute
)

// rotationLimits bound a contact's token rotations per client address and
// per tenant. Each rotation issues a token and mails its reveal link.
type rotationLimits struct {
	byIP     *keyedLimiter
	byTenant *keyedLimiter
}

func newRotationLimits() *rotationLimits {
	return &rotationLimits{
		byIP:     newKeyedLimiter(rotationPerClientEvery, maxRotationsPerClient),
		byTenant: newKeyedLimiter(rotationPerTenantEvery, maxRotationsPerTenant),
	}
}

// resetLimits bound staff password reset requests per client address and
// per typed email address. The email bucket counts every address alike,
// whether or not a staff account has it, so a 429 reveals nothing about
// which accounts exist.
type resetLimits struct {
	byIP    *keyedLimiter
	byEmail *keyedLimiter
}

func newResetLimits() *resetLimits {
	return &resetLimits{
		byIP:    newKeyedLimiter(resetPerClientEvery, maxResetsPerClient),
		byEmail: newKeyedLimiter(resetPerEmailEvery, maxResetsPerEmail),
	}
}

// tooManyRequests is the error for an exhausted rate limit. It sets
// Retry-After, which the error page keeps.
func tooManyRequests(c *gin.Context, wait time.Duration) error {
	c.Header("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
	return userError(http.StatusTooManyRequests, tooManyMessage(wait), nil)
}

func tooManyMessage(wait time.Duration) string {
	return fmt.Sprintf("Too many attempts in a short time. Please wait %s and try again.", formatWait(wait))
}

// formatWait rounds a wait up to whole minutes, or seconds under a minute.
func formatWait(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int(d.Seconds())+1)
	}
	minutes := int((d + time.Minute - 1) / time.Minute)
	if minutes == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", minutes)
}

// clientKey returns the key of the client's per-address buckets: its IPv4
// address, or the /64 network of its IPv6 address. One IPv6 host commonly
// has a whole /64, and would otherwise get a fresh bucket per address.
func clientKey(c *gin.Context) string {
	ip, err := netip.ParseAddr(c.ClientIP())
	if err != nil {
		return c.ClientIP()
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	network, _ := ip.Prefix(64)
	return network.String()
}

// emailKey is the per-email bucket key: the address in lowercase.
func emailKey(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

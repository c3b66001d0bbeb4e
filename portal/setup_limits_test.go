package portal

import (
	"fmt"
	"testing"
	"time"
)

// TestKeyedLimiterFull checks that a flood of distinct keys cannot reset
// the bucket of a key already counted: once the limiter is full, new keys
// share one overflow bucket until counted buckets refill.
func TestKeyedLimiterFull(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	l := newKeyedLimiter(time.Hour, 1)
	if ok, _ := l.allow("victim@example.com", now); !ok {
		t.Fatal("first attempt of victim refused")
	}
	for i := range maxLimiterKeys {
		l.allow(fmt.Sprintf("flood-%d@example.com", i), now)
	}
	if ok, _ := l.allow("victim@example.com", now); ok {
		t.Error("victim's second attempt allowed after the flood, want its bucket kept")
	}
	// The flood's last key found the limiter full and drained the
	// overflow bucket, which every new key now shares.
	if ok, _ := l.allow("newcomer-1@example.com", now); ok {
		t.Error("new key after the flood allowed, want it to share the drained overflow bucket")
	}
	if n := len(l.buckets); n > maxLimiterKeys {
		t.Errorf("limiter holds %d buckets, want at most %d", n, maxLimiterKeys)
	}

	later := now.Add(2 * time.Hour)
	if ok, _ := l.allow("newcomer-3@example.com", later); !ok {
		t.Error("new key refused once the buckets refilled")
	}
	if _, ok := l.buckets["newcomer-3@example.com"]; !ok {
		t.Error("new key got no bucket of its own once refilled buckets were dropped")
	}
}

package scim

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

// Background writes: the per-tenant request log and the tokens' last-used
// times are collected in memory and written in batches, off the request
// path. What is pending when the process dies without Close is lost.

const (
	flushInterval   = time.Second
	maxPendingLog   = 20000
	maxLogBatchSize = 1000
)

type backgroundWriter struct {
	store *tenants.Store
	log   *slog.Logger

	mu        sync.Mutex
	pending   []tenants.SCIMRequest
	dropped   int
	tokenUses map[string]time.Time

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

func startBackgroundWriter(store *tenants.Store, log *slog.Logger) *backgroundWriter {
	w := &backgroundWriter{
		store: store, log: log, tokenUses: make(map[string]time.Time),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go w.run()
	return w
}

// logRequest queues an entry. When the queue is full because the database
// is slow or down, the entry is dropped and counted.
func (w *backgroundWriter) logRequest(e tenants.SCIMRequest) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) >= maxPendingLog {
		w.dropped++
		return
	}
	w.pending = append(w.pending, e)
	if len(w.pending) == maxLogBatchSize {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// touchToken records that a token was used at time at.
func (w *backgroundWriter) touchToken(tokenID string, at time.Time) {
	w.mu.Lock()
	if at.After(w.tokenUses[tokenID]) {
		w.tokenUses[tokenID] = at
	}
	w.mu.Unlock()
}

func (w *backgroundWriter) run() {
	defer close(w.done)
	ticker := time.NewTicker(flushInterval)
	defer ticker.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-ticker.C:
		case <-w.wake:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		w.flush(ctx)
		cancel()
	}
}

// flush writes what is pending. A failed batch is logged and dropped, so
// a database outage cannot grow memory without bound.
func (w *backgroundWriter) flush(ctx context.Context) error {
	w.mu.Lock()
	entries, dropped, uses := w.pending, w.dropped, w.tokenUses
	w.pending, w.dropped, w.tokenUses = nil, 0, make(map[string]time.Time)
	w.mu.Unlock()

	if dropped > 0 {
		w.log.Warn("scim_request_log_dropped", "entries", dropped)
	}
	var firstErr error
	for len(entries) > 0 {
		n := min(len(entries), maxLogBatchSize)
		if err := w.store.AppendSCIMRequests(ctx, entries[:n]); err != nil {
			w.log.Error("scim_request_log_write_failed", "entries", n, "error", err)
			firstErr = err
		}
		entries = entries[n:]
	}
	if err := w.touchTokens(ctx, uses); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}

func (w *backgroundWriter) touchTokens(ctx context.Context, uses map[string]time.Time) error {
	byTime := make(map[time.Time][]string)
	for id, at := range uses {
		at = at.Truncate(time.Second)
		byTime[at] = append(byTime[at], id)
	}
	for at, ids := range byTime {
		if err := w.store.TouchTokens(ctx, ids, at); err != nil {
			w.log.Error("scim_token_touch_failed", "tokens", len(ids), "error", err)
			return err
		}
	}
	return nil
}

// close stops the writer and flushes what is pending.
func (w *backgroundWriter) close(ctx context.Context) error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return w.flush(ctx)
}

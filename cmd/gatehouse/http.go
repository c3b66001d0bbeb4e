package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

type requestIDKey struct{}

// requestIDPattern accepts a caller's X-Request-ID only when it is short
// and plain, so it cannot inject anything into logs.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// requestID reuses a sane incoming X-Request-ID or makes one, returns it in
// the response and puts it in the context for every log line.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if !requestIDPattern.MatchString(id) {
			b := make([]byte, 8)
			rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Header("X-Request-ID", id)
		ctx := context.WithValue(c.Request.Context(), requestIDKey{}, id)
		c.Request = c.Request.WithContext(tenants.WithRequestTenant(ctx))
		c.Next()
	}
}

// contextHandler adds the request ID from the context to every record.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}

var (
	httpRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_http_requests_total",
		Help: "HTTP requests by route template, method and status code.",
	}, []string{"route", "method", "status"})
	httpDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatehouse_http_request_duration_seconds",
		Help:    "HTTP request latency by route template.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
)

// accessLog writes one line per request with its route template (never the
// raw path or query, which may carry secrets), status, latency and tenant,
// and counts it in the metrics.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		elapsed := time.Since(start)

		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		httpRequests.WithLabelValues(route, c.Request.Method, strconv.Itoa(status)).Inc()
		httpDuration.WithLabelValues(route).Observe(elapsed.Seconds())

		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		log.Log(c.Request.Context(), level, "http_request",
			"method", c.Request.Method, "route", route, "status", status,
			"latency_ms", float64(elapsed.Microseconds())/1000, "tenant", tenants.RequestTenant(c.Request.Context()),
			"bytes", c.Writer.Size())
	}
}

// recovery turns a panic into a 500 and an error log line instead of a
// dropped connection. Handlers must not panic; this is the last guard.
func recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(c.Request.Context(), "panic", "value", v, "route", c.FullPath())
				c.AbortWithStatus(http.StatusInternalServerError)
			}
		}()
		c.Next()
	}
}

// securityHeaders sets headers every response carries. Pages that need
// more (no-store on secrets, a form-action for the SAML POST binding)
// override them.
func securityHeaders(https bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if https {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		c.Next()
	}
}

// crossOrigin rejects cross-origin form posts with 403, except on the
// bypass patterns cop holds. It runs inside the middleware chain, so a
// rejected request still gets a request ID, an access log line, a metric
// and the security headers.
func crossOrigin(cop *http.CrossOriginProtection) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := cop.Check(c.Request); err != nil {
			c.Header("Cache-Control", "no-store")
			c.String(http.StatusForbidden, "Forbidden: this form was posted from another site. Go back to the page, reload it and submit again.\n")
			c.Abort()
			return
		}
		c.Next()
	}
}

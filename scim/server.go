package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/gatehouse-dev/gatehouse/tenants"
)

// Config configures the SCIM server.
type Config struct {
	DB *sqlx.DB
	// BaseURL is the public base URL, e.g. "https://gatehouse.example.com",
	// used in Location and meta.location.
	BaseURL string
	Logger  *slog.Logger
	// RateLimit and RateBurst limit each tenant's requests; zero means
	// DefaultRateLimit and DefaultRateBurst.
	RateLimit rate.Limit
	RateBurst int
	// AuthFailureLimit and AuthFailureBurst limit each client address's
	// failed authentications; zero means DefaultAuthFailureLimit and
	// DefaultAuthFailureBurst.
	AuthFailureLimit rate.Limit
	AuthFailureBurst int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Default per-tenant rate limit.
const (
	DefaultRateLimit rate.Limit = 50
	DefaultRateBurst            = 100
)

// MaxBodyBytes is the largest request body accepted; larger ones get 413.
const MaxBodyBytes = 1 << 20

// prefix is the path every SCIM endpoint starts with.
const prefix = "/scim/v2"

// Server serves the SCIM 2.0 endpoints of every tenant.
type Server struct {
	db      *sqlx.DB
	store   *tenants.Store
	baseURL string
	log     *slog.Logger
	now     func() time.Time

	tokens       *tokenCache
	limiters     *limiters
	authLimiters *authLimiters
	known        knownTokens
	lookups      singleflight.Group
	writes       *backgroundWriter
	stmts        stmtCache
	mux          *http.ServeMux

	failures *failureLog

	// hashing bounds concurrent password hashes, each of which takes
	// 64 MiB of memory.
	hashing chan struct{}
}

// New returns a server and starts its background writer; call Close to
// stop it.
func New(cfg Config) (*Server, error) {
	if cfg.DB == nil {
		return nil, errors.New("scim: Config.DB is required")
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("scim: BaseURL %q must be an absolute URL such as https://gatehouse.example.com", cfg.BaseURL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.RateBurst == 0 {
		cfg.RateBurst = DefaultRateBurst
	}
	if cfg.AuthFailureLimit == 0 {
		cfg.AuthFailureLimit = DefaultAuthFailureLimit
	}
	if cfg.AuthFailureBurst == 0 {
		cfg.AuthFailureBurst = DefaultAuthFailureBurst
	}

	s := &Server{
		db: cfg.DB, store: tenants.NewStore(cfg.DB), baseURL: strings.TrimRight(cfg.BaseURL, "/"),
		log: cfg.Logger, now: cfg.Now,
		tokens:       newTokenCache(cfg.Now),
		limiters:     newLimiters(cfg.RateLimit, cfg.RateBurst),
		authLimiters: newAuthLimiters(cfg.AuthFailureLimit, cfg.AuthFailureBurst),
		hashing:      make(chan struct{}, 2),
		failures:     newFailureLog(),
	}
	s.writes = startBackgroundWriter(s.store, cfg.Logger)
	s.mux = s.routes()
	return s, nil
}

// Handler serves every path under /scim/v2/ (the full path, not stripped).
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Close flushes the batched request log and token last-used writes.
func (s *Server) Close(ctx context.Context) error { return s.writes.close(ctx) }

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range []struct {
		endpoint                           string
		list, create, get, put, patch, del handler
	}{
		{"/Users", s.listUsers, s.createUser, s.getUser, s.replaceUser, s.patchUser, s.deleteUser},
		{"/Groups", s.listGroups, s.createGroup, s.getGroup, s.replaceGroup, s.patchGroup, s.deleteGroup},
	} {
		mux.Handle("GET "+prefix+rt.endpoint, s.handle(rt.list))
		mux.Handle("POST "+prefix+rt.endpoint, s.handle(rt.create))
		mux.Handle("POST "+prefix+rt.endpoint+"/.search", s.handle(search(rt.list)))
		mux.Handle("GET "+prefix+rt.endpoint+"/{id}", s.handle(rt.get))
		mux.Handle("PUT "+prefix+rt.endpoint+"/{id}", s.handle(rt.put))
		mux.Handle("PATCH "+prefix+rt.endpoint+"/{id}", s.handle(rt.patch))
		mux.Handle("DELETE "+prefix+rt.endpoint+"/{id}", s.handle(rt.del))
		mux.Handle(prefix+rt.endpoint, s.handle(methodNotAllowed("GET, POST")))
		mux.Handle(prefix+rt.endpoint+"/{id}", s.handle(methodNotAllowed("GET, PUT, PATCH, DELETE")))
	}
	mux.Handle("GET "+prefix+"/ServiceProviderConfig", s.handle(s.serviceProviderConfig))
	mux.Handle("GET "+prefix+"/ResourceTypes", s.handle(s.resourceTypes))
	mux.Handle("GET "+prefix+"/ResourceTypes/{id}", s.handle(s.resourceTypeByID))
	mux.Handle("GET "+prefix+"/Schemas", s.handle(s.schemas))
	mux.Handle("GET "+prefix+"/Schemas/{id}", s.handle(s.schemaByID))
	mux.Handle(prefix+"/Me", s.handle(notImplemented("The /Me endpoint is not supported.")))
	mux.Handle(prefix+"/Bulk", s.handle(notImplemented("Bulk operations are not supported.")))
	mux.Handle(prefix+"/.search", s.handle(notImplemented("Searching all resource types at once is not supported. POST to /Users/.search or /Groups/.search instead.")))
	mux.Handle("/", s.handle(func(http.ResponseWriter, *http.Request, *call) error {
		return errorf(http.StatusNotFound, "", "No SCIM endpoint at this path.")
	}))
	return mux
}

// call is what the middleware learned about a request.
type call struct {
	tenant  tenants.Tenant
	tokenID string
	hash    [32]byte
	// err is the error response sent, for the request log.
	err *scimError
}

type callKey struct{}

// handler serves one SCIM operation. It writes the response on success and
// returns an error otherwise, which handle turns into the error response.
type handler func(w http.ResponseWriter, r *http.Request, c *call) error

func (s *Server) handle(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.Context().Value(callKey{}).(*call)
		err := h(w, r, c)
		if err == nil {
			return
		}
		se := toSCIMError(err)
		if se.status == http.StatusUnauthorized {
			s.tokens.forget(c.hash)
		}
		c.err = se
		s.logError(r.Context(), c, se)
		writeError(w, se)
	})
}

func (s *Server) logError(ctx context.Context, c *call, se *scimError) {
	switch {
	case se.status >= 500:
		s.logFailure(ctx, "scim_request_failed", "tenant", c.tenant.Slug, "status", se.status, "error", se.cause)
	case se.cause != nil && se.status != http.StatusNotFound:
		s.log.InfoContext(ctx, "scim_request_rejected", "tenant", c.tenant.Slug, "status", se.status, "error", se.cause)
	}
}

func methodNotAllowed(allow string) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		w.Header().Set("Allow", allow)
		return errorf(http.StatusMethodNotAllowed, "", "Method %s is not allowed here; use %s.", r.Method, allow)
	}
}

func notImplemented(detail string) handler {
	return func(http.ResponseWriter, *http.Request, *call) error {
		return errorf(http.StatusNotImplemented, "", "%s", detail)
	}
}

// serveHTTP authenticates the request before anything reads its body,
// applies the tenant's rate limit and the body size limit, routes it and
// records it in the tenant's request log.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	c, err := s.authenticate(r)
	if err != nil {
		var throttled *authThrottled
		if errors.As(err, &throttled) {
			setRetryAfter(w, throttled.wait)
		}
		se := toSCIMError(err)
		if se.status >= 500 {
			s.logFailure(r.Context(), "scim_authenticate_failed", "error", err)
		}
		countRequest("", r, se.status, se)
		writeError(w, se)
		return
	}
	tenants.SetRequestTenant(r.Context(), c.tenant.Slug)

	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.serveAuthenticated(rec, r, c)
	s.writes.logRequest(tenants.SCIMRequest{
		TenantID: c.tenant.ID, At: start, Method: r.Method, Path: r.URL.Path, Status: rec.status,
		Latency: s.now().Sub(start), SCIMType: errField(c.err, true), Detail: errField(c.err, false),
		RequestID: w.Header().Get("X-Request-ID"),
	})
	s.writes.touchToken(c.tokenID, start)
	countRequest(c.tenant.Slug, r, rec.status, c.err)
}

func (s *Server) serveAuthenticated(w http.ResponseWriter, r *http.Request, c *call) {
	if wait, ok := s.limiters.allow(c.tenant.ID, s.now()); !ok {
		setRetryAfter(w, wait)
		c.err = errorf(http.StatusTooManyRequests, "", "Too many requests for this tenant. Retry after the number of seconds in Retry-After.")
		writeError(w, c.err)
		return
	}
	if r.ContentLength > MaxBodyBytes {
		c.err = errBodyTooLarge
		writeError(w, c.err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
}

// setRetryAfter sets Retry-After to wait, rounded up to whole seconds.
func setRetryAfter(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
}

func errField(e *scimError, scimType bool) string {
	switch {
	case e == nil:
		return ""
	case scimType:
		return e.scimType
	}
	return e.detail
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// contentType is the media type of every SCIM response (RFC 7644 section 3.1).
const contentType = "application/scim+json"

var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeJSON encodes v into a buffer first, so an encoding failure becomes
// a clean 500 instead of a truncated body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := bufferPool.Get().(*bytes.Buffer)
	defer bufferPool.Put(buf)
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		status = http.StatusInternalServerError
		fmt.Fprintf(buf, `{"schemas":[%q],"status":"500","detail":"Internal error."}`, errorSchema)
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// decodeBody reads a JSON request body into v. It accepts
// application/scim+json and application/json, or no Content-Type.
func decodeBody(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		media, _, err := mime.ParseMediaType(ct)
		if err != nil || media != contentType && media != "application/json" {
			return errorf(http.StatusUnsupportedMediaType, "", "Content-Type must be application/scim+json or application/json.")
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}

	// Read to the end, so a body that goes on past the limit after the
	// object is rejected as too large too.
	_, err := dec.Token()
	var tooLarge *http.MaxBytesError
	switch {
	case err == io.EOF:
		return nil
	case errors.As(err, &tooLarge):
		return errBodyTooLarge
	}
	return errorf(http.StatusBadRequest, invalidSyntax, "The request body has data after the JSON object.")
}

var errBodyTooLarge = errorf(http.StatusRequestEntityTooLarge, "", "The request body is larger than %d bytes.", MaxBodyBytes)

// decodeError returns the response to a body that json.Decoder rejected.
func decodeError(err error) error {
	var se *scimError
	if errors.As(err, &se) {
		return se
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errBodyTooLarge
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return errorf(http.StatusBadRequest, invalidValue, "Attribute %s has the wrong type: %s is not accepted.", typeErr.Field, typeErr.Value)
	}
	return errorf(http.StatusBadRequest, invalidSyntax, "The request body is not valid JSON.")
}

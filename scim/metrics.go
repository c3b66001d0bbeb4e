package scim

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/time/rate"
)

// requestsTotal counts SCIM requests. The tenant label holds the slug, so
// its cardinality is the number of tenants with SCIM on.
var requestsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "gatehouse_scim_requests_total",
	Help: "SCIM requests by tenant, operation (such as users.create) and outcome (ok, a scimType, or the status code).",
}, []string{"tenant", "operation", "outcome"})

// resources are the endpoints operation names are made of; any other path
// counts as "other", so a client cannot grow the label set.
var resources = map[string]string{
	"Users": "users", "Groups": "groups", "ServiceProviderConfig": "service_provider_config",
	"ResourceTypes": "resource_types", "Schemas": "schemas",
}

// operationName names a request as resource.verb, e.g. users.get,
// users.list or users.search, from its method and path.
func operationName(r *http.Request) string {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, prefix+"/"), "/")
	resource, ok := resources[parts[0]]
	if !ok {
		return "other"
	}
	byID := len(parts) > 1 && parts[1] != ""
	switch r.Method {
	case http.MethodGet:
		if byID {
			return resource + ".get"
		}
		return resource + ".list"
	case http.MethodPost:
		if byID && parts[1] == ".search" {
			return resource + ".search"
		}
		return resource + ".create"
	case http.MethodPut:
		return resource + ".replace"
	case http.MethodPatch:
		return resource + ".patch"
	case http.MethodDelete:
		return resource + ".delete"
	}
	return resource + ".other"
}

// outcome is "ok" below 400, else the error's scimType or its status code.
func outcome(status int, e *scimError) string {
	if status < 400 {
		return "ok"
	}
	if e != nil && e.scimType != "" {
		return e.scimType
	}
	return strconv.Itoa(status)
}

func countRequest(tenant string, r *http.Request, status int, e *scimError) {
	requestsTotal.WithLabelValues(tenant, operationName(r), outcome(status, e)).Inc()
}

// failureLog rate-limits error lines, so an outage that fails every
// request (the database down, say) logs a few lines a second with a count
// of those it left out, instead of one line per request.
type failureLog struct {
	limiter    *rate.Limiter
	suppressed atomic.Int64
}

func newFailureLog() *failureLog {
	return &failureLog{limiter: rate.NewLimiter(2, 10)}
}

// logFailure logs an error event unless the rate limit is exhausted.
func (s *Server) logFailure(ctx context.Context, msg string, args ...any) {
	if !s.failures.limiter.Allow() {
		s.failures.suppressed.Add(1)
		return
	}
	if n := s.failures.suppressed.Swap(0); n > 0 {
		args = append(args, "suppressed_since_last", n)
	}
	s.log.ErrorContext(ctx, msg, args...)
}

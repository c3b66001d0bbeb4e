package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/tenants"
)

// scimError is an error a handler returns: the status and scimType of the
// RFC 7644 error response, a detail written for the IdP's administrator,
// and the internal cause, which is only logged.
type scimError struct {
	status   int
	scimType string
	detail   string
	cause    error
}

func (e *scimError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.status, e.scimType, e.detail, e.cause)
	}
	return fmt.Sprintf("%d %s: %s", e.status, e.scimType, e.detail)
}

func (e *scimError) Unwrap() error { return e.cause }

func errorf(status int, scimType, format string, args ...any) *scimError {
	return &scimError{status: status, scimType: scimType, detail: fmt.Sprintf(format, args...)}
}

// The scimType values of RFC 7644 section 3.12.
const (
	invalidFilter = "invalidFilter"
	invalidSyntax = "invalidSyntax"
	invalidPath   = "invalidPath"
	invalidValue  = "invalidValue"
	noTarget      = "noTarget"
	uniqueness    = "uniqueness"
	mutabilityErr = "mutability"
	tooMany       = "tooMany"
)

var errUnauthorized = errorf(http.StatusUnauthorized, "", "Missing, unknown, revoked or expired bearer token. Use the SCIM token issued for this tenant.")

// toSCIMError maps any error a handler returns onto the closed set of
// responses: the handler's own scimError, or one of the store's errors.
func toSCIMError(err error) *scimError {
	var se *scimError
	var fe *filterError
	var throttled *authThrottled
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &throttled):
		return &scimError{status: http.StatusTooManyRequests, cause: err,
			detail: "Too many failed authentications from this address. Check the bearer token, and retry after the number of seconds in Retry-After."}
	case errors.As(err, &fe):
		return &scimError{status: http.StatusBadRequest, scimType: invalidFilter, detail: "Invalid filter: " + fe.msg + "."}
	case errors.Is(err, tenants.ErrUnauthorized):
		return &scimError{status: errUnauthorized.status, detail: errUnauthorized.detail, cause: err}
	case errors.Is(err, tenants.ErrUnknownMember):
		return &scimError{status: http.StatusBadRequest, scimType: invalidValue, cause: err,
			detail: "A member is not a user of this tenant, or was deleted. Provision the user before adding them to a group."}
	case errors.Is(err, tenants.ErrStale):
		return &scimError{status: http.StatusPreconditionFailed, cause: err,
			detail: "The resource changed since the version in If-Match. Read it again and retry."}
	case errors.Is(err, tenants.ErrSettingsChanged):
		// Only a tenant whose autoprovision setting flips twice while one
		// create runs gets here: the create retries once after the first.
		return &scimError{status: http.StatusServiceUnavailable, cause: err,
			detail: "The tenant's settings changed while the request ran. Retry the request."}
	case errors.Is(err, database.ErrNotFound):
		return &scimError{status: http.StatusNotFound, detail: "Resource not found.", cause: err}
	case errors.Is(err, database.ErrConflict):
		return &scimError{status: http.StatusConflict, scimType: uniqueness, cause: err,
			detail: "The value of a unique attribute is already in use in this tenant."}
	case errors.Is(err, database.ErrInvalidText):
		return &scimError{status: http.StatusBadRequest, scimType: invalidValue, cause: err,
			detail: "A value contains a null character or invalid UTF-8, which cannot be stored. Remove it and retry."}
	case errors.Is(err, database.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &scimError{status: http.StatusServiceUnavailable, detail: "The service is temporarily unavailable. Retry later.", cause: err}
	}
	return &scimError{status: http.StatusInternalServerError, detail: "Internal error.", cause: err}
}

// errorBody is the error response of RFC 7644 section 3.12; status is a
// string there.
type errorBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	SCIMType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

func writeError(w http.ResponseWriter, e *scimError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="SCIM"`)
	}
	writeJSON(w, e.status, errorBody{Schemas: []string{errorSchema}, Status: strconv.Itoa(e.status), SCIMType: e.scimType, Detail: e.detail})
}

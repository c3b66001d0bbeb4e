package portal

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gatehouse-dev/gatehouse/database"
)

// publicError carries a status and a message written for the person
// using the page, apart from the internal cause that goes to the log.
type publicError struct {
	status  int
	message string
	cause   error
}

func (e *publicError) Error() string {
	if e.cause != nil {
		return e.message + ": " + e.cause.Error()
	}
	return e.message
}

func (e *publicError) Unwrap() error { return e.cause }

// userError returns an error shown to the user as message with status.
func userError(status int, message string, cause error) error {
	return &publicError{status: status, message: message, cause: cause}
}

var (
	errNotFound     = userError(http.StatusNotFound, "We could not find that page.", nil)
	errLinkInvalid  = userError(http.StatusNotFound, "This link is not valid. It may have expired or been replaced by a newer one.", nil)
	errUnauthorized = userError(http.StatusUnauthorized, "Please sign in to continue.", nil)
	errForbidden    = userError(http.StatusForbidden, "You do not have permission to do that.", nil)
)

// handlerFunc is a gin handler that returns an error instead of writing it.
type handlerFunc func(c *gin.Context) error

// handle adapts h: an error becomes a status, an error page and one log
// line with the request ID. Only publicError messages reach the page.
func (s *Server) handle(h handlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		err := h(c)
		if err == nil {
			return
		}
		status, message := classify(err)
		if status >= 500 {
			s.log.ErrorContext(c.Request.Context(), "request_failed", "error", err, "route", c.FullPath())
		} else {
			s.log.InfoContext(c.Request.Context(), "request_rejected", "status", status, "reason", err.Error(), "route", c.FullPath())
		}
		c.Error(err)
		if c.Writer.Written() {
			return
		}
		if status == http.StatusServiceUnavailable {
			c.Header("Retry-After", "5")
		}
		if renderErr := s.render(c, status, "error.html", "Something went wrong", message); renderErr != nil {
			c.String(status, message)
		}
	}
}

func classify(err error) (int, string) {
	var pe *publicError
	switch {
	case errors.As(err, &pe):
		return pe.status, pe.message
	case errors.Is(err, database.ErrNotFound):
		return http.StatusNotFound, errNotFound.(*publicError).message
	case errors.Is(err, database.ErrConflict):
		return http.StatusConflict, "Someone else changed this at the same time. Reload the page and try again."
	case errors.Is(err, database.ErrInvalidText):
		return http.StatusBadRequest, "The form contains a null character or text that is not valid UTF-8. Remove it and try again."
	case errors.Is(err, database.ErrUnavailable):
		return http.StatusServiceUnavailable, "The service is briefly unavailable. Please try again in a moment."
	}
	return http.StatusInternalServerError, "Something went wrong on our side. Please try again; if it keeps happening, contact support."
}

// logAttrs is for handlers that log their own events.
func logAttrs(c *gin.Context, attrs ...any) []any {
	return append([]any{slog.String("route", c.FullPath())}, attrs...)
}

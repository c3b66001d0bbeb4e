package database

import (
	"database/sql/driver"
	"errors"
	"net"
	"syscall"
)

// isConnectionError reports whether err means the server could not be reached.
func isConnectionError(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ENOENT) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

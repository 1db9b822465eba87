package jobs

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// Unavailable reports whether err means a server we depend on could not be
// reached or went away (refused or dropped connections, a PostgreSQL that
// is starting up or shutting down), as opposed to an error in the work.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var state interface{ SQLState() string }
	if errors.As(err, &state) {
		// 08: connection exception; 57P01-57P03: shutting down, starting up.
		c := state.SQLState()
		return strings.HasPrefix(c, "08") || strings.HasPrefix(c, "57P")
	}
	var nerr net.Error
	var operr *net.OpError
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed), errors.As(err, &operr):
		return true
	case errors.As(err, &nerr) && nerr.Timeout():
		return true
	}
	// go-redis reports a server that is loading its data, or a replica
	// not yet promoted, by message only.
	msg := err.Error()
	return strings.HasPrefix(msg, "LOADING") || strings.HasPrefix(msg, "READONLY") || strings.HasPrefix(msg, "MASTERDOWN")
}

// Package muster holds Muster's domain: dashboards, accounts, contractors,
// managers and invitations, the rules between them, and the one error type
// every layer speaks. It imports the standard library only.
package muster

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an Error; the HTTP layer maps each kind to one status.
type Kind int

const (
	KindInternal        Kind = iota // a bug or an outage; details are logged, not shown
	KindInvalid                     // the input is wrong; fixing it helps
	KindNotFound                    // no such object, or not yours
	KindConflict                    // the object's state forbids the action
	KindUnauthenticated             // missing or wrong credentials
	KindForbidden                   // authenticated, but the role does not allow it
	KindRateLimited                 // allowed again later (Error.RetryAfter)
	KindTooLarge                    // the payload is larger than a configured limit
	KindUnsupported                 // a media type we do not read
	KindTimeout                     // the request did not arrive in time
)

// Error is an application error with a stable machine-readable code and a
// message meant for the person who made the request.
type Error struct {
	Kind       Kind
	Code       string // stable, snake_case; clients switch on it
	Message    string
	RetryAfter time.Duration // for KindRateLimited
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid is shorthand for a KindInvalid error.
func Invalid(code, format string, args ...any) *Error {
	return Errorf(KindInvalid, code, format, args...)
}

// NotFound is shorthand for a KindNotFound error.
func NotFound(code, format string, args ...any) *Error {
	return Errorf(KindNotFound, code, format, args...)
}

// Conflict is shorthand for a KindConflict error.
func Conflict(code, format string, args ...any) *Error {
	return Errorf(KindConflict, code, format, args...)
}

// AsError returns the *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// ErrorKind returns the kind of err: KindInternal unless err wraps an *Error.
func ErrorKind(err error) Kind {
	if e := AsError(err); e != nil {
		return e.Kind
	}
	return KindInternal
}

// ErrorCode returns the stable code of err, "internal" for foreign errors.
func ErrorCode(err error) string {
	if e := AsError(err); e != nil {
		return e.Code
	}
	return "internal"
}

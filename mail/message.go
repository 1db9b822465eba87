package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"
)

// Message is one email to one recipient.
type Message struct {
	To     string // a bare address
	ToName string
	// MessageID is stable for one logical email (without angle brackets),
	// so that a retry after an unclear failure reads as the same message to
	// receivers that drop duplicates.
	MessageID string
	// Unsubscribe is a one-click unsubscribe URL (RFC 8058): sent as
	// List-Unsubscribe with List-Unsubscribe-Post. "" for none.
	Unsubscribe string
	Content
}

// Sender delivers messages.
type Sender interface {
	Send(ctx context.Context, m *Message) error
	Close() error
}

// PermanentError marks a failure that retrying will not fix, such as a
// recipient the server refused with a 5xx reply.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is not worth retrying.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// build turns a Message into a MIME message: multipart/alternative with a
// plain-text and an HTML part, UTF-8 in base64 (a third the size of
// quoted-printable for Cyrillic text).
func build(from *mail.Address, m *Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithEncoding(gomail.EncodingB64), gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(from)
	to, err := recipient(m.To, m.ToName)
	if err != nil {
		return nil, err
	}
	msg.ToMailAddress(to)
	msg.Subject(oneLine(m.Subject))
	msg.SetMessageIDWithValue(oneLine(m.MessageID))
	if m.Unsubscribe != "" {
		msg.SetGenHeader("List-Unsubscribe", "<"+oneLine(m.Unsubscribe)+">")
		msg.SetGenHeader("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	return msg, nil
}

// recipient is the To address. The name is encoded by net/mail (quoted or
// RFC 2047 as it needs), so commas, quotes or "=HYPERLINK(…)" in a name
// cannot break the header; a name that still cannot be encoded (invalid
// UTF-8) is left out rather than the email.
func recipient(addr, name string) (*mail.Address, error) {
	if strings.ContainsAny(addr, "\r\n") {
		return nil, &PermanentError{Err: fmt.Errorf("recipient %q contains a line break", addr)}
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Name != "" {
		return nil, &PermanentError{Err: fmt.Errorf("recipient %q is not a bare email address", addr)}
	}
	a.Name = oneLine(name)
	if a.Name != "" && !utf8.ValidString(a.Name) {
		a.Name = ""
	}
	if _, err := mail.ParseAddress(a.String()); err != nil {
		a.Name = ""
	}
	return a, nil
}

// FileSender writes each message as an .eml file into a directory: the
// developer's mailbox when no SMTP server is configured.
type FileSender struct {
	Dir  string
	From *mail.Address
	Now  func() time.Time
}

// Send writes m to Dir/<time>-<message id>.eml.
func (s *FileSender) Send(ctx context.Context, m *Message) error {
	msg, err := build(s.From, m)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s/%s-%s.eml", s.Dir, s.Now().UTC().Format("20060102T150405.000000"), fileSafe(m.MessageID))
	if err := msg.WriteToFile(name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// Close does nothing; files need no connection.
func (s *FileSender) Close() error { return nil }

func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == '<' || r == '>' || r < ' ' {
			return '_'
		}
		return r
	}, s)
}

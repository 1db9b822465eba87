package mail

import (
	"bytes"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"sync"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// sendError is how the pipelined path reports a message that failed, in
// go-mail's terms (see failure): the stage and the server's reply code, 0
// when there was no reply. Like go-mail's SendError it does not unwrap: a
// connection that broke mid-message fails that message, it is not an
// outage of ours (jobs.Unavailable).
type sendError struct {
	stage gomail.SendErrReason
	code  int
	err   error
}

func (e *sendError) Error() string { return e.stage.String() + ": " + e.err.Error() }

// failure reads the stage and the reply code of a failed send, from
// go-mail's SendError or the pipelined path's sendError; ok is false for
// any other error (dialling, building the message, a context).
func failure(err error) (stage gomail.SendErrReason, code int, ok bool) {
	var ge *gomail.SendError
	if errors.As(err, &ge) {
		return ge.Reason, ge.ErrorCode(), true
	}
	var pe *sendError
	if errors.As(err, &pe) {
		return pe.stage, pe.code, true
	}
	return 0, 0, false
}

// replyError is the failure of stage: with the server's code when err is a
// reply, with none when the connection broke or the reply was garbled.
func replyError(stage gomail.SendErrReason, err error) *sendError {
	se := &sendError{stage: stage, err: err}
	var te *textproto.Error
	if errors.As(err, &te) {
		se.code = te.Code
	}
	return se
}

// pipelined sends msg, written as body, as RFC 2920 allows: MAIL, RCPT and
// DATA in one write and their replies read after it, then the body and its
// reply. Two round trips instead of go-mail's four. Where the server also
// offers CHUNKING (RFC 3030), the body goes in the same write as the
// commands, as BDAT's one chunk: one round trip, and nothing to dot-stuff.
// The caller knows the server offers PIPELINING and owns c; a connection
// left in no state for another message is closed here, so that release
// does not pool it.
func (s *SMTP) pipelined(c *smtp.Client, msg *gomail.Msg, body []byte) error {
	if !c.HasConnection() {
		return &sendError{stage: gomail.ErrConnCheck, err: smtp.ErrNoConnection}
	}
	// As in go-mail's SendWithSMTPClient, the timeout bounds the whole message.
	if err := c.UpdateDeadline(s.timeout); err != nil {
		return &sendError{stage: gomail.ErrConnCheck, err: err}
	}
	if msg.Encoding() == gomail.NoEncoding.String() {
		if ok, _ := c.Extension("8BITMIME"); !ok {
			return &sendError{stage: gomail.ErrNoUnencoded, err: gomail.ErrServerNoUnencoded}
		}
	}
	from, err := msg.GetSender(false)
	if err != nil {
		return &sendError{stage: gomail.ErrGetSender, err: err}
	}
	rcpts, err := msg.GetRecipients()
	if err != nil {
		return &sendError{stage: gomail.ErrGetRcpts, err: err}
	}
	// As go-mail's validateLine: no address may smuggle in a command.
	if strings.ContainsAny(from, "\r\n") {
		return &sendError{stage: gomail.ErrSMTPMailFrom, err: fmt.Errorf("sender %q contains a line break", from)}
	}
	for _, r := range rcpts {
		if strings.ContainsAny(r, "\r\n") {
			return &sendError{stage: gomail.ErrSMTPRcptTo, err: fmt.Errorf("recipient %q contains a line break", r)}
		}
	}
	chunk := chunks(c, body)
	w := c.Text.W // textproto's PrintfLine would flush each line
	fmt.Fprintf(w, "MAIL FROM:%s%s\r\n", from, mailParams(c))
	for _, r := range rcpts {
		fmt.Fprintf(w, "RCPT TO:%s\r\n", r)
	}
	if chunk {
		fmt.Fprintf(w, "BDAT %d LAST\r\n", len(body))
		w.Write(body) //nolint:errcheck // a failed write fails the Flush
	} else {
		w.WriteString("DATA\r\n")
	}
	if err := w.Flush(); err != nil {
		return &sendError{stage: gomail.ErrSMTPMailFrom, err: err}
	}

	// Every reply is read, refused or not, to keep the conversation in step.
	// The first refusal is the message's failure, as go-mail would report
	// it. A reply that never came (code 0) leaves the connection unusable.
	var refused *sendError
	broken := func(se *sendError) error {
		_ = c.Close()
		return firstOf(refused, se)
	}
	mailTaken := true
	if _, _, err := c.Text.ReadResponse(250); err != nil {
		if refused = replyError(gomail.ErrSMTPMailFrom, err); refused.code == 0 {
			return broken(refused)
		}
		mailTaken = false
	}
	for range rcpts {
		if _, _, err := c.Text.ReadResponse(25); err != nil {
			se := replyError(gomail.ErrSMTPRcptTo, err)
			if se.code == 0 {
				return broken(se)
			}
			refused = firstOf(refused, se)
		}
	}
	if chunk {
		return chunkReply(c, refused, mailTaken)
	}
	if _, _, err := c.Text.ReadResponse(354); err != nil {
		se := replyError(gomail.ErrSMTPData, err)
		switch {
		case se.code == 0:
			return broken(se)
		case refused == nil:
			return se
		case mailTaken:
			// The transaction MAIL opened is still open: a refused DATA is
			// not among what ends one (RFC 5321, 4.1.4), and a strict server
			// answers the next MAIL with 503. A refused MAIL opened none.
			if err := c.Reset(); err != nil {
				return broken(se)
			}
		}
		return refused
	}
	if refused != nil {
		// The server waits for a body it must not get (some recipient was
		// taken, or the server is odd). Only closing ends DATA without a message.
		return broken(refused)
	}

	if se := writeData(c, body); se != nil {
		return se
	}
	if _, _, err := c.Text.ReadResponse(250); err != nil {
		return replyError(gomail.ErrSMTPDataClose, err)
	}
	return nil
}

// chunkReply reads BDAT's reply, after those of MAIL and RCPT (refused is
// the first refusal among them). A refused BDAT may leave the transaction
// MAIL opened (RFC 3030 leaves that to the server), so it is reset, as
// after a refused DATA. The chunk was sent whatever the replies, and the
// server read it, so the conversation stays in step. Muster's messages
// have one recipient: a refused RCPT leaves BDAT none, and it is refused.
func chunkReply(c *smtp.Client, refused *sendError, mailTaken bool) error {
	if _, _, err := c.Text.ReadResponse(250); err != nil {
		se := replyError(gomail.ErrSMTPDataClose, err)
		if se.code == 0 {
			_ = c.Close()
			return firstOf(refused, se)
		}
		refused = firstOf(refused, se)
	}
	if refused == nil {
		return nil
	}
	if mailTaken {
		if err := c.Reset(); err != nil {
			_ = c.Close()
		}
	}
	return refused
}

// chunks says whether body goes as one BDAT chunk on c: the server offers
// CHUNKING, and every line of body ends in CRLF, as a chunk's must (DATA's
// DotWriter mends other line ends; a chunk goes as it is).
func chunks(c *smtp.Client, body []byte) bool {
	ok, _ := c.Extension("CHUNKING")
	return ok && canonical(body)
}

// canonical says whether every CR in b begins a CRLF, every LF ends one,
// and b ends a line.
func canonical(b []byte) bool {
	n := bytes.Count(b, []byte("\r\n"))
	return bytes.HasSuffix(b, []byte("\r\n")) && bytes.Count(b, []byte("\n")) == n && bytes.Count(b, []byte("\r")) == n
}

// bodies are the buffers messages are written into before they go out.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeData sends b as DATA's content and ends it. textproto's DotWriter
// dot-stuffs and mends line ends a byte at a time, a tenth of the worker's
// CPU on loopback; what go-mail writes needs neither, so it goes out as it
// is when asDotWriterWould says that is the same.
func writeData(c *smtp.Client, b []byte) *sendError {
	if !asDotWriterWould(b) {
		dw := c.Text.DotWriter()
		if _, err := dw.Write(b); err != nil {
			return &sendError{stage: gomail.ErrWriteContent, err: err}
		}
		if err := dw.Close(); err != nil {
			return &sendError{stage: gomail.ErrSMTPDataClose, err: err}
		}
		return nil
	}
	w := c.Text.W
	if _, err := w.Write(b); err != nil {
		return &sendError{stage: gomail.ErrWriteContent, err: err}
	}
	if _, err := w.WriteString(".\r\n"); err != nil {
		return &sendError{stage: gomail.ErrSMTPDataClose, err: err}
	}
	if err := w.Flush(); err != nil {
		return &sendError{stage: gomail.ErrSMTPDataClose, err: err}
	}
	return nil
}

// asDotWriterWould says whether textproto's DotWriter would write b
// unchanged: no line starts with a dot, every LF follows a CR, no CR
// follows a CR (it would add one before the next LF), and b ends a line.
func asDotWriterWould(b []byte) bool {
	return len(b) > 0 && b[0] != '.' && bytes.HasSuffix(b, []byte("\r\n")) &&
		!bytes.Contains(b, []byte("\n.")) && !bytes.Contains(b, []byte("\r\r")) &&
		bytes.Count(b, []byte("\n")) == bytes.Count(b, []byte("\r\n"))
}

func firstOf(a, b *sendError) *sendError {
	if a != nil {
		return a
	}
	return b
}

// mailParams are the MAIL FROM parameters go-mail's Client.Mail gives on c:
// BODY=8BITMIME and SMTPUTF8 when the server offers them. (RET= comes only
// with DSN, which Muster does not request, and SMTPUTF8 is left out only
// with WithoutSMTPUTF8, which it does not set.)
func mailParams(c *smtp.Client) string {
	var p string
	if ok, _ := c.Extension("8BITMIME"); ok {
		p += " BODY=8BITMIME"
	}
	if ok, _ := c.Extension("SMTPUTF8"); ok {
		p += " SMTPUTF8"
	}
	return p
}

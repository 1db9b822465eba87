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

// pipelined sends msg as RFC 2920 allows: MAIL, RCPT and DATA in one write
// and their replies read after it, then the body and its reply. Two round
// trips instead of go-mail's four. The caller knows the server offers
// PIPELINING and owns c; a connection left in no state for another
// message is closed here, so that release does not pool it.
func (s *SMTP) pipelined(c *smtp.Client, msg *gomail.Msg) error {
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
	w := c.Text.W // textproto's PrintfLine would flush each line
	fmt.Fprintf(w, "MAIL FROM:%s%s\r\n", from, mailParams(c))
	for _, r := range rcpts {
		fmt.Fprintf(w, "RCPT TO:%s\r\n", r)
	}
	w.WriteString("DATA\r\n")
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

	if se := writeData(c, msg); se != nil {
		return se
	}
	if _, _, err := c.Text.ReadResponse(250); err != nil {
		return replyError(gomail.ErrSMTPDataClose, err)
	}
	return nil
}

// bodies are the buffers messages are written into before they go out.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeData sends msg as DATA's content and ends it. textproto's
// DotWriter dot-stuffs and mends line ends a byte at a time, a tenth of
// the worker's CPU on loopback; what go-mail writes needs neither, so it
// goes out as it is when asDotWriterWould says that is the same.
func writeData(c *smtp.Client, msg *gomail.Msg) *sendError {
	buf := bodies.Get().(*bytes.Buffer)
	defer bodies.Put(buf)
	buf.Reset()
	if _, err := msg.WriteTo(buf); err != nil {
		return &sendError{stage: gomail.ErrWriteContent, err: err}
	}
	b := buf.Bytes()
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

package mail

import (
	"bytes"
	"io"
	netmail "net/mail"
	"strings"
	"testing"

	"github.com/muster-dev/muster/internal/muster"
)

// FuzzHeaders: whatever address and display name pass validation, the
// message has exactly one recipient, that address, and no header the
// input made up (Bcc, a second To); the subject stays one header.
func FuzzHeaders(f *testing.F) {
	f.Add("anna@example.com", "Анна Петрова", "ООО Ромашка приглашает вас")
	f.Add("a+tag@sub.example.co.uk", `"Quoted, Name" <x@y.z>`, "Subject\r\nBcc: victim@x.test")
	f.Add("иван@пример.рф", "Call +1 555 0100\u202e", "=?utf-8?q?x?=")
	f.Add("x@example.com", "Bob\nBcc: victim@x.test", strings.Repeat("long subject ", 20))
	from := &netmail.Address{Name: "Muster", Address: "no-reply@muster.test"}
	f.Fuzz(func(t *testing.T, addr, name, subject string) {
		to, err := muster.NormalizeEmail("email", addr)
		if err != nil {
			return
		}
		if name, err = muster.CleanLine("full_name", name, muster.MaxNameLen); err != nil {
			return
		}
		msg, err := build(from, &Message{To: to, ToName: name, MessageID: "invitation-1@muster.test",
			Content: Content{Subject: subject, Text: "text", HTML: "<p>html</p>"}})
		if err != nil {
			if !IsPermanent(err) {
				t.Fatalf("a refusal that would be retried: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if _, err := msg.WriteTo(&buf); err != nil {
			t.Fatalf("write: %v", err)
		}
		m, err := netmail.ReadMessage(&buf)
		if err != nil {
			t.Fatalf("the message does not parse: %v\n%s", err, buf.Bytes())
		}
		for _, h := range []string{"Bcc", "Cc", "Reply-To"} {
			if _, ok := m.Header[h]; ok {
				t.Fatalf("input made a %s header", h)
			}
		}
		if len(m.Header["To"]) != 1 || len(m.Header["Subject"]) != 1 || len(m.Header["From"]) != 1 {
			t.Fatalf("headers repeated: %v", m.Header)
		}
		list, err := m.Header.AddressList("To")
		if err != nil {
			// net/mail does not read every RFC 6532 form go-mail writes;
			// what matters is that there is one To, checked above.
			return
		}
		if len(list) != 1 || !strings.EqualFold(list[0].Address, to) {
			t.Fatalf("To %v, want only %s", list, to)
		}
		// The name arrives as typed, or not at all when net/mail could not
		// read it back (recipient drops it rather than fail the email).
		if list[0].Name != oneLine(name) && list[0].Name != "" {
			t.Fatalf("display name %q arrives as %q", oneLine(name), list[0].Name)
		}
		io.Copy(io.Discard, m.Body)
	})
}

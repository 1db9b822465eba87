package mail

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// rawServer is a small SMTP server of the tests' own, to see what the
// client writes and in what order. With pipelining it answers MAIL and RCPT
// only once DATA (or BDAT) has arrived (RFC 2920 lets it hold them), so a
// client that waits for each reply before the next command never gets one.
type rawServer struct {
	pipelining bool   // offer PIPELINING and hold replies until DATA
	chunking   bool   // offer CHUNKING (BDAT)
	refuse     string // a recipient refused with 550
	dataAnyway bool   // answer DATA with 354 even when no recipient was taken
	hang       int    // never answer the next hang DATA commands

	addr string
	done chan struct{}

	mu      sync.Mutex
	conns   []net.Conn
	mails   []string // MAIL commands as received
	bodies  []string // messages taken, un-stuffed, with LF line ends
	datas   int      // DATA commands
	chunks  int      // BDAT commands
	resets  int      // RSET commands
	nested  int      // MAIL commands refused for a transaction already open
	aborted int      // connections closed by the client in the middle of DATA
}

func (s *rawServer) start(t *testing.T) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr, s.done = ln.Addr().String(), make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
	t.Cleanup(func() {
		close(s.done)
		ln.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			c.Close()
		}
	})
	return s
}

func (s *rawServer) url() string { return "smtp://" + s.addr + "?tls=none" }

func (s *rawServer) serve(c net.Conn) {
	defer c.Close()
	tc := textproto.NewConn(c)
	reply := func(lines ...string) {
		for _, l := range lines {
			tc.W.WriteString(l + "\r\n")
		}
	}
	reply("220 raw ESMTP")
	var from string
	var to []string
	var chunked []byte // BDAT chunks before the LAST one
	hold := false      // replies wait in the buffer for DATA's
	for {
		if !hold && tc.W.Flush() != nil {
			return
		}
		hold = false
		line, err := tc.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			if s.pipelining {
				reply("250-raw", "250-PIPELINING")
			} else {
				reply("250-raw")
			}
			if s.chunking {
				reply("250-CHUNKING")
			}
			reply("250-8BITMIME", "250 SMTPUTF8")
		case "MAIL":
			s.mu.Lock()
			s.mails = append(s.mails, line)
			if from != "" {
				s.nested++
			}
			s.mu.Unlock()
			if from != "" {
				reply("503 5.5.1 nested MAIL command")
			} else {
				from = arg
				reply("250 2.1.0 ok")
			}
			hold = s.pipelining
		case "RCPT":
			addr, _, _ := strings.Cut(strings.TrimPrefix(arg, "TO:"), " ")
			switch {
			case from == "":
				reply("503 5.5.1 no MAIL")
			case strings.Trim(addr, "<>") == s.refuse:
				reply("550 5.1.1 no such mailbox")
			default:
				to = append(to, addr)
				reply("250 2.1.5 ok")
			}
			hold = s.pipelining
		case "BDAT":
			// Read whatever the reply: the chunk follows the command.
			size, last, _ := strings.Cut(arg, " ")
			n, err := strconv.Atoi(size)
			if err != nil {
				reply("501 5.5.4 bad size")
				continue
			}
			chunk := make([]byte, n)
			if _, err := io.ReadFull(tc.R, chunk); err != nil {
				return
			}
			s.mu.Lock()
			s.chunks++
			s.mu.Unlock()
			switch {
			case len(to) == 0:
				reply("554 5.5.1 no valid recipients")
			case strings.EqualFold(last, "LAST"):
				s.take(bytes.ReplaceAll(append(chunked, chunk...), []byte("\r\n"), []byte("\n")))
				chunked, from, to = nil, "", nil
				reply("250 2.0.0 queued")
			default:
				chunked = append(chunked, chunk...)
				reply("250 2.0.0 chunk taken")
			}
		case "DATA":
			s.mu.Lock()
			s.datas++
			hang := s.hang > 0
			if hang {
				s.hang--
			}
			s.mu.Unlock()
			if hang {
				<-s.done
				return
			}
			if len(to) == 0 && !s.dataAnyway {
				reply("554 5.5.1 no valid recipients")
				continue
			}
			reply("354 go ahead")
			if tc.W.Flush() != nil {
				return
			}
			body, err := io.ReadAll(tc.DotReader())
			if err != nil {
				s.mu.Lock()
				s.aborted++
				s.mu.Unlock()
				return
			}
			s.take(body)
			from, to = "", nil
			reply("250 2.0.0 queued")
		case "RSET":
			s.mu.Lock()
			s.resets++
			s.mu.Unlock()
			from, to = "", nil
			reply("250 2.0.0 ok")
		case "NOOP":
			reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			tc.W.Flush()
			return
		default:
			reply("502 5.5.2 unknown command")
		}
	}
}

func (s *rawServer) take(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, string(body))
}

type rawStats struct {
	conns, resets, nested, aborted, datas, chunks int
	mails, bodies                                 []string
}

func (s *rawServer) stats() rawStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rawStats{len(s.conns), s.resets, s.nested, s.aborted, s.datas, s.chunks, append([]string(nil), s.mails...), append([]string(nil), s.bodies...)}
}

var testFrom = &netmail.Address{Name: "Muster", Address: "no-reply@muster.test"}

func rawSender(t *testing.T, srv *rawServer, o SMTPOptions) *SMTP {
	t.Helper()
	o.From = testFrom
	if o.Conns == 0 {
		o.Conns = 1
	}
	s, err := NewSMTP(srv.url(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func plain(to string) *Message {
	return &Message{To: to, ToName: "Анна", MessageID: "m-" + to, Content: Content{Subject: "Тема", Text: "текст", HTML: "<p>текст</p>"}}
}

// A client that waited for MAIL's reply before RCPT would never get it
// from this server: every message goes, MAIL, RCPT and DATA in one write,
// or, where the server offers CHUNKING, MAIL, RCPT, BDAT and the message.
// The same server times out a client that does not pipeline.
func TestPipeliningWritesMailRcptDataAtOnce(t *testing.T) {
	t.Parallel()
	for _, chunking := range []bool{false, true} {
		t.Run(verb(chunking), func(t *testing.T) {
			t.Parallel()
			srv := (&rawServer{pipelining: true, chunking: chunking}).start(t)
			s := rawSender(t, srv, SMTPOptions{Timeout: 5 * time.Second})
			for i := range 3 {
				if err := s.Send(context.Background(), plain("anna@example.test")); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			st := srv.stats()
			if len(st.bodies) != 3 || st.conns != 1 {
				t.Fatalf("%d messages on %d connections, want 3 on 1", len(st.bodies), st.conns)
			}
			if got := [2]int{st.datas, st.chunks}; chunking && got != [2]int{0, 3} || !chunking && got != [2]int{3, 0} {
				t.Errorf("%d DATA and %d BDAT commands for 3 messages", st.datas, st.chunks)
			}
			if st.mails[0] != "MAIL FROM:<no-reply@muster.test> BODY=8BITMIME SMTPUTF8" {
				t.Errorf("MAIL command %q", st.mails[0])
			}
			if !strings.Contains(st.bodies[0], "Subject: =?UTF-8?") || !strings.HasSuffix(st.bodies[0], "--\n") {
				t.Errorf("the message arrived cut or garbled:\n%s", st.bodies[0])
			}

			lockstep := rawSender(t, srv, SMTPOptions{Timeout: 300 * time.Millisecond, NoPipelining: true})
			if err := lockstep.Send(context.Background(), plain("anna@example.test")); err == nil {
				t.Fatal("a client without pipelining got its replies: the server cannot tell the two apart")
			}
		})
	}
}

func verb(chunking bool) string {
	if chunking {
		return "BDAT"
	}
	return "DATA"
}

// Without PIPELINING go-mail sends as before, with the same MAIL parameters.
func TestNoPipeliningOfferedSendsOneCommandAtATime(t *testing.T) {
	t.Parallel()
	srv := (&rawServer{}).start(t)
	s := rawSender(t, srv, SMTPOptions{Timeout: 5 * time.Second})
	for range 2 {
		if err := s.Send(context.Background(), plain("anna@example.test")); err != nil {
			t.Fatal(err)
		}
	}
	st := srv.stats()
	if len(st.bodies) != 2 || st.conns != 1 {
		t.Fatalf("%d messages on %d connections, want 2 on 1", len(st.bodies), st.conns)
	}
	if st.mails[0] != "MAIL FROM:<no-reply@muster.test> BODY=8BITMIME SMTPUTF8" {
		t.Errorf("go-mail's MAIL command %q differs from the pipelined one", st.mails[0])
	}
}

// Lines that start with a dot reach the server as written: the body is
// dot-stuffed once after DATA, and not at all in a chunk.
func TestPipeliningBodyLinesStartingWithADot(t *testing.T) {
	t.Parallel()
	for _, chunking := range []bool{false, true} {
		t.Run(verb(chunking), func(t *testing.T) {
			t.Parallel()
			srv := (&rawServer{pipelining: true, chunking: chunking}).start(t)
			s := rawSender(t, srv, SMTPOptions{Timeout: 5 * time.Second})
			body := ".one\r\n..two\r\n.\r\nlast . line\r\n"
			if err := s.send(context.Background(), rawMsg(t, body)); err != nil {
				t.Fatal(err)
			}
			got := srv.stats().bodies[0]
			if want := strings.ReplaceAll(body, "\r\n", "\n"); !strings.HasSuffix(got, "\n\n"+want) {
				t.Fatalf("body arrived as\n%q\nwant it to end with\n%q", got, want)
			}
		})
	}
}

// A message with a line that does not end in CRLF cannot be a chunk: it
// goes after DATA, whose writer mends the line ends, even where the server
// offers CHUNKING.
func TestChunkingOnlyCanonicalLineEnds(t *testing.T) {
	t.Parallel()
	srv := (&rawServer{pipelining: true, chunking: true}).start(t)
	s := rawSender(t, srv, SMTPOptions{Timeout: 5 * time.Second})
	for _, body := range []string{"bare\nline feed\r\n", "bare\rreturn\r\n", "crlf\r\nonly\r\n"} {
		if err := s.send(context.Background(), rawMsg(t, body)); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
	}
	st := srv.stats()
	if st.datas != 2 || st.chunks != 1 {
		t.Fatalf("%d DATA and %d BDAT; want the two bodies with a bare CR or LF after DATA, the other as a chunk", st.datas, st.chunks)
	}
	if got := st.bodies[0]; !strings.HasSuffix(got, "\n\nbare\nline feed\n") {
		t.Errorf("first body arrived as %q", got)
	}
}

// rawMsg is a message whose body go-mail writes as it is given.
func rawMsg(t *testing.T, body string) *gomail.Msg {
	t.Helper()
	msg := gomail.NewMsg(gomail.WithEncoding(gomail.NoEncoding), gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(testFrom)
	if err := msg.To("anna@example.test"); err != nil {
		t.Fatal(err)
	}
	msg.Subject("raw")
	msg.SetBodyString(gomail.TypeTextPlain, body)
	return msg
}

// A refused recipient fails its message for good; the server also refuses
// DATA (or the chunk, which it reads all the same), and an RSET closes the
// transaction MAIL opened, so this strict server takes the next MAIL on
// the same connection.
func TestPipeliningRefusedRecipientKeepsTheConnection(t *testing.T) {
	t.Parallel()
	for _, chunking := range []bool{false, true} {
		t.Run(verb(chunking), func(t *testing.T) {
			t.Parallel()
			srv := (&rawServer{pipelining: true, chunking: chunking, refuse: "gone@example.test"}).start(t)
			s := rawSender(t, srv, SMTPOptions{Timeout: 5 * time.Second})
			err := s.Send(context.Background(), plain("gone@example.test"))
			if !IsPermanent(err) || Reason(err) != "smtp_550" {
				t.Fatalf("err = %v (reason %q), want a permanent smtp_550", err, Reason(err))
			}
			if err := s.Send(context.Background(), plain("anna@example.test")); err != nil {
				t.Fatal(err)
			}
			st := srv.stats()
			if len(st.bodies) != 1 || st.conns != 1 || st.resets != 1 || st.nested != 0 {
				t.Fatalf("%d messages, %d connections, %d RSETs, %d nested MAILs; want 1, 1, 1, 0", len(st.bodies), st.conns, st.resets, st.nested)
			}
		})
	}
}

// A server that answers DATA with 354 after refusing the only recipient
// gets no message: the connection is closed, and the next goes on a new one.
func TestPipeliningDataAcceptedAfterARefusal(t *testing.T) {
	t.Parallel()
	srv := (&rawServer{pipelining: true, refuse: "gone@example.test", dataAnyway: true}).start(t)
	s := rawSender(t, srv, SMTPOptions{Timeout: 5 * time.Second})
	if err := s.Send(context.Background(), plain("gone@example.test")); !IsPermanent(err) {
		t.Fatalf("err = %v, want the recipient's permanent refusal", err)
	}
	if err := s.Send(context.Background(), plain("anna@example.test")); err != nil {
		t.Fatal(err)
	}
	st := srv.stats()
	if len(st.bodies) != 1 || st.conns != 2 || st.aborted != 1 {
		t.Fatalf("%d messages, %d connections, %d aborted DATA; want 1, 2, 1", len(st.bodies), st.conns, st.aborted)
	}
}

// A server that never answers the pipelined commands holds the slot until
// the timeout; the connection is then closed and replaced.
func TestPipeliningHungServerFreesTheSlot(t *testing.T) {
	t.Parallel()
	srv := (&rawServer{pipelining: true, hang: 1}).start(t)
	s := rawSender(t, srv, SMTPOptions{Timeout: 300 * time.Millisecond})
	errs := make(chan error, 1)
	go func() { errs <- s.Send(context.Background(), plain("anna@example.test")) }()
	select {
	case err := <-errs:
		if err == nil || IsPermanent(err) || Reason(err) != "timeout" {
			t.Fatalf("err = %v (reason %q), want a temporary failure, counted as a timeout", err, Reason(err))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a hung server held the slot past the timeout")
	}
	if err := s.Send(context.Background(), plain("anna@example.test")); err != nil {
		t.Fatal(err)
	}
	if st := srv.stats(); len(st.bodies) != 1 || st.conns != 2 {
		t.Fatalf("%d messages on %d connections, want 1 on a second one", len(st.bodies), st.conns)
	}
}

// The message goes out as it is only when textproto's DotWriter would have
// written exactly that: checked on every string of up to eight of the
// bytes that matter to it. And a message go-mail writes does go out so.
func TestDataAsDotWriterWould(t *testing.T) {
	dotted := func(b []byte) string {
		var out bytes.Buffer
		w := textproto.NewWriter(bufio.NewWriter(&out))
		dw := w.DotWriter()
		dw.Write(b)
		dw.Close()
		return out.String()
	}
	alphabet := []byte{'a', '.', '\r', '\n'}
	var walk func(b []byte)
	walk = func(b []byte) {
		if asDotWriterWould(b) && dotted(b) != string(b)+".\r\n" {
			t.Fatalf("%q: DotWriter writes %q", b, dotted(b))
		}
		if len(b) == 8 {
			return
		}
		for _, c := range alphabet {
			walk(append(b, c))
		}
	}
	walk(nil)

	msg, err := build(&netmail.Address{Address: "from@example.test"}, plain("to@example.test"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := msg.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if !asDotWriterWould(b.Bytes()) {
		t.Fatalf("go-mail's message needs the DotWriter:\n%s", b.String())
	}
}

package mail

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Stored is one message of the dev mailbox, decoded.
type Stored struct {
	File    string // the .eml file's name
	Date    time.Time
	To      string
	Subject string
	Text    string   // the plain-text part
	Links   []string // every http(s) link of the text and HTML parts, once each
}

// ReadMailbox reads every .eml file of dir (FileSender's), oldest first.
func ReadMailbox(dir string) ([]Stored, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names) // file names start with the time they were written
	out := make([]Stored, 0, len(names))
	for _, name := range names {
		s, err := readStored(name)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

var dec = new(mime.WordDecoder)

func readStored(name string) (Stored, error) {
	f, err := os.Open(name)
	if err != nil {
		return Stored{}, err
	}
	defer f.Close()
	m, err := mail.ReadMessage(f)
	if err != nil {
		return Stored{}, fmt.Errorf("%s: %w", name, err)
	}
	s := Stored{File: filepath.Base(name)}
	s.Date, _ = m.Header.Date()
	if to, err := m.Header.AddressList("To"); err == nil && len(to) > 0 {
		s.To = to[0].String()
	}
	if s.Subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		return Stored{}, fmt.Errorf("%s: subject: %w", name, err)
	}
	var html string
	err = walkParts(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body, func(typ string, body []byte) {
		switch typ {
		case "text/plain":
			s.Text = string(body)
		case "text/html":
			html = string(body)
		}
	})
	if err != nil {
		return Stored{}, fmt.Errorf("%s: %w", name, err)
	}
	s.Links = links(s.Text + "\n" + html)
	return s, nil
}

// walkParts calls leaf with the decoded body of every non-multipart part.
func walkParts(ctype, encoding string, r io.Reader, leaf func(typ string, body []byte)) error {
	typ, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		typ = "text/plain"
	}
	if strings.HasPrefix(typ, "multipart/") {
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walkParts(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, leaf); err != nil {
				return err
			}
		}
	}
	body, err := io.ReadAll(decodeBody(encoding, r))
	if err != nil {
		return fmt.Errorf("%s part: %w", typ, err)
	}
	leaf(typ, body)
	return nil
}

var linkRE = regexp.MustCompile(`https?://[^\s"'<>]+`)

func links(text string) []string {
	var out []string
	for _, l := range linkRE.FindAllString(text, -1) {
		l = strings.ReplaceAll(strings.TrimRight(l, ".,;)"), "&amp;", "&")
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// Format writes s as a person reads it: headers, the text, the links.
func (s Stored) Format(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "File:    %s\nDate:    %s\nTo:      %s\nSubject: %s\n\n%s\n", s.File, s.Date.Format(time.RFC1123Z), s.To, s.Subject, strings.TrimSpace(s.Text))
	if len(s.Links) > 0 {
		b.WriteString("\nLinks:\n")
		for _, l := range s.Links {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// decodeBody undoes a Content-Transfer-Encoding.
func decodeBody(encoding string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, newlineStripper{r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// newlineStripper drops CR and LF, which base64 bodies wrap at 76 columns.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

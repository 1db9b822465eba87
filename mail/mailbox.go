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
	if s.Text, html, err = DecodeParts(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body); err != nil {
		return Stored{}, fmt.Errorf("%s: %w", name, err)
	}
	s.Links = links(s.Text + "\n" + html)
	return s, nil
}

// DecodeParts reads a MIME body with its Content-Type and
// Content-Transfer-Encoding and returns its plain-text and HTML parts,
// decoded, however deep they are in multipart parts.
func DecodeParts(ctype, encoding string, body io.Reader) (text, html string, err error) {
	err = walkParts(ctype, encoding, body, func(typ string, data []byte) {
		switch typ {
		case "text/plain":
			text = string(data)
		case "text/html":
			html = string(data)
		}
	})
	return text, html, err
}

// walkParts calls leaf with the decoded body of every non-multipart part.
func walkParts(ctype, encoding string, r io.Reader, leaf func(typ string, body []byte)) error {
	typ, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ctype, err)
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
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r) // skips line breaks itself
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%s part: %w", typ, err)
	}
	leaf(typ, data)
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

package mail

import (
	"io"
	"net/mail"

	"github.com/muster-dev/muster/internal/muster"
)

// RenderInFull renders d as Render does without its shapes: every
// template run for this email alone.
func RenderInFull(r *Renderer, l muster.Locale, d Data) (*Content, error) {
	parts, err := r.run(l, d.Template(), fields(d))
	if err != nil {
		return nil, err
	}
	return finish(parts), nil
}

// Filled says whether Render fills d's shape in rather than rendering it
// in full: a shape of d's kind was learnt, with its holes.
func Filled(r *Renderer, l muster.Locale, d Data) bool {
	k, _, ok := key(l, d.Template(), fields(d))
	if !ok {
		return false
	}
	r.shapes.mu.Lock()
	defer r.shapes.mu.Unlock()
	return r.shapes.m[k] != nil
}

// WriteMessage writes m as the SMTP sender does before it takes a
// connection: built with go-mail and written out as MIME.
func WriteMessage(w io.Writer, from *mail.Address, m *Message) error {
	msg, err := build(from, m)
	if err != nil {
		return err
	}
	_, err = msg.WriteTo(w)
	return err
}

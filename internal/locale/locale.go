// Package locale translates Muster's strings with go-i18n, which knows the
// CLDR plural rules (Russian one/few/many). Russian is the default and the
// fallback for any key another language lacks.
package locale

import (
	"fmt"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/nicksnyder/go-i18n/v2/i18n/template"
	"golang.org/x/text/language"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/locales"
)

// Bundle holds the messages of every language.
type Bundle struct {
	b     *i18n.Bundle
	files map[muster.Locale][]*i18n.MessageFile
	tr    map[muster.Locale]Translator
}

// files are the message files of each language: the emails' and the
// console's.
var files = []string{"active", "console"}

// Load reads active.<lang>.toml and console.<lang>.toml for every
// language Muster writes in.
func Load() (*Bundle, error) {
	b := &Bundle{b: i18n.NewBundle(language.Russian), files: map[muster.Locale][]*i18n.MessageFile{}}
	b.b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	for _, l := range muster.Locales {
		for _, file := range files {
			name := file + "." + string(l) + ".toml"
			f, err := b.b.LoadMessageFileFS(locales.FS, name)
			if err != nil {
				return nil, fmt.Errorf("load locale %s: %w", name, err)
			}
			b.files[l] = append(b.files[l], f)
		}
	}
	// Every email translates a dozen strings, most of them without a
	// placeholder: those are translated once per language, not per email.
	plain := map[string]bool{}
	for _, l := range muster.Locales {
		for _, m := range b.Messages(l) {
			if _, seen := plain[m.ID]; !seen {
				plain[m.ID] = true
			}
			for _, form := range []string{m.Zero, m.One, m.Two, m.Few, m.Many, m.Other} {
				if strings.Contains(form, "{{") {
					plain[m.ID] = false
				}
			}
		}
	}
	b.tr = map[muster.Locale]Translator{}
	for _, l := range muster.Locales {
		b.tr[l] = Translator{l: i18n.NewLocalizer(b.b, string(l), string(muster.DefaultLocale)), plain: plain, done: &sync.Map{}}
	}
	return b, nil
}

// strict fails a string whose placeholder names data that is not there,
// instead of writing "<no value>" into an email.
var strict = &template.TextParser{Option: "missingkey=error"}

// Translator speaks one language.
type Translator struct {
	l     *i18n.Localizer
	plain map[string]bool // ids of messages without placeholders
	done  *sync.Map       // id → translation, of plain messages
}

// For returns the translator for l, falling back to Russian.
func (b *Bundle) For(l muster.Locale) Translator {
	if t, ok := b.tr[l]; ok {
		return t
	}
	return b.tr[muster.DefaultLocale]
}

// T translates id, filling its placeholders from data.
func (t Translator) T(id string, data any) (string, error) {
	if !t.plain[id] {
		return t.l.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data, TemplateParser: strict})
	}
	if s, ok := t.done.Load(id); ok {
		return s.(string), nil
	}
	s, err := t.l.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateParser: strict})
	if err == nil {
		t.done.Store(id, s)
	}
	return s, err
}

// N translates id in the plural form for count; {{.Count}} is count.
func (t Translator) N(id string, count int, data map[string]any) (string, error) {
	td := map[string]any{}
	for k, v := range data {
		td[k] = v
	}
	td["Count"] = count // the count chose the plural form; data may not override it
	return t.l.Localize(&i18n.LocalizeConfig{MessageID: id, PluralCount: count, TemplateData: td, TemplateParser: strict})
}

// Messages returns the messages defined for a language, by id, so tests
// can check that every language has every key and the plural forms it needs.
func (b *Bundle) Messages(l muster.Locale) map[string]*i18n.Message {
	out := map[string]*i18n.Message{}
	for _, f := range b.files[l] {
		for _, m := range f.Messages {
			out[m.ID] = m
		}
	}
	return out
}

// Package templates holds the email templates. Each kind of email has an
// HTML part (<kind>.html.tmpl, defining "<kind>.html") and a text part
// (<kind>.txt.tmpl, defining "<kind>.txt" and "<kind>.subject"); the
// shared header and footer live in base.*.tmpl. Every string comes from
// locales/ through {{ .T "id" }} or, with a count, {{ .N "id" n }}.
package templates

import "embed"

// FS holds every template.
//
//go:embed *.tmpl
var FS embed.FS

// Package locales holds the strings of every email, one go-i18n TOML file
// per language. Russian is the default; a key missing in another language
// falls back to Russian.
package locales

import "embed"

// FS holds active.<lang>.toml for every language.
//
//go:embed active.*.toml
var FS embed.FS

// Package locales holds the strings of every email (active.<lang>.toml)
// and of the console (console.<lang>.toml), go-i18n TOML files per
// language. Russian is the default; a key missing in another language
// falls back to Russian.
package locales

import "embed"

// FS holds active.<lang>.toml and console.<lang>.toml for every language.
//
//go:embed active.*.toml console.*.toml
var FS embed.FS

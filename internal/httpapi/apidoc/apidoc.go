// Package apidoc holds the API's OpenAPI document and the page that
// renders it: RapiDoc (MIT, from npm's rapidoc 9.3.8 dist, licence beside
// it), embedded so that nothing loads from a CDN.
package apidoc

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:embed openapi.yaml
var source []byte

//go:embed ui
var ui embed.FS

// UI is the reference page: index.html and its script.
func UI() fs.FS {
	sub, err := fs.Sub(ui, "ui")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}

// Spec is the OpenAPI document, checked, and its JSON form.
var Spec = sync.OnceValues(func() (*Doc, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(source)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml as JSON: %w", err)
	}
	return &Doc{T: doc, JSON: data}, nil
})

// Doc is the loaded document.
type Doc struct {
	T    *openapi3.T
	JSON []byte
}

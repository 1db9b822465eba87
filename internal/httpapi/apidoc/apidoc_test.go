package apidoc_test

import (
	"testing"

	"github.com/muster-dev/muster/internal/httpapi/apidoc"
)

func TestSpecLoadsAndIsValid(t *testing.T) {
	t.Parallel()
	d, err := apidoc.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if d.T.OpenAPI != "3.1.0" || !d.T.IsOpenAPI31OrLater() {
		t.Errorf("openapi = %q, want 3.1.0", d.T.OpenAPI)
	}
}

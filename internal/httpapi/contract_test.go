package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/muster-dev/muster/internal/httpapi/apidoc"
)

// contract is the OpenAPI document and a router over it, shared by tests.
var contract = sync.OnceValues(func() (routers.Router, error) {
	d, err := apidoc.Spec()
	if err != nil {
		return nil, err
	}
	for _, ct := range []string{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "text/event-stream", "text/html"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
	return gorillamux.NewRouter(d.T)
})

// checkContract holds one exchange of a test to the OpenAPI document: the
// request, when the API accepted it (tests also send bad requests on
// purpose), and the response, always.
func checkContract(t testing.TB, req *http.Request, reqBody []byte, res *http.Response, resBody []byte) {
	t.Helper()
	if !strings.HasPrefix(req.URL.Path, "/v1/") {
		return // health, metrics and the queue monitor are not the API
	}
	router, err := contract()
	if err != nil {
		t.Fatalf("openapi: %v", err)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		if res.StatusCode == http.StatusNotFound && bytes.Contains(resBody, []byte(`"route_not_found"`)) {
			return
		}
		t.Fatalf("%s %s answered %d but is not in openapi.yaml: %v", req.Method, req.URL.Path, res.StatusCode, err)
	}
	ctx := context.Background()
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req.Clone(ctx), PathParams: params, Route: route, Options: opts}
	in.Request.Body = io.NopCloser(bytes.NewReader(reqBody))
	if res.StatusCode < 400 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("%s %s: the request does not match openapi.yaml: %v", req.Method, req.URL.Path, err)
		}
	}
	err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(resBody)), Options: opts,
	})
	if err != nil {
		t.Errorf("%s %s: the %d response does not match openapi.yaml: %v\n%s", req.Method, req.URL.Path, res.StatusCode, err, trim(resBody))
	}
}

func trim(b []byte) []byte {
	if len(b) > 500 {
		return append(b[:500:500], "…"...)
	}
	return b
}

// TestOpenAPICoversEveryRoute: every /v1 route the server registers is in
// the document, and every operation in the document is a route.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d, err := apidoc.Spec()
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for p, item := range d.T.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+p)
		}
	}
	var registered []string
	for _, r := range b.api.Routes() {
		method, p, ok := strings.Cut(r, " ")
		if !ok || !strings.HasPrefix(p, "/v1/") {
			continue
		}
		registered = append(registered, r)
		if !slices.Contains(documented, r) {
			t.Errorf("route %q is not in internal/httpapi/apidoc/openapi.yaml: add paths.%q.%s", r, p, strings.ToLower(method))
		}
	}
	for _, op := range documented {
		if !slices.Contains(registered, op) {
			t.Errorf("openapi.yaml documents %q, but the server has no such route", op)
		}
	}
	res := b.do(t, "GET", "/v1/openapi.json", "", nil)
	if res.status != 200 || res.body["openapi"] != "3.1.0" || obj(res.body["paths"])["/v1/tokens"] == nil {
		t.Errorf("GET /v1/openapi.json: %d, openapi %v", res.status, res.body["openapi"])
	}
}

// TestReferencePageIsSelfContained: the page and its script come from the
// binary, and the page loads nothing from another host.
func TestReferencePageIsSelfContained(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, p := range []string{"/v1/docs/", "/v1/docs/rapidoc-min.js"} {
		res, err := b.srv.Client().Get(b.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || len(body) < 100 {
			t.Fatalf("GET %s: %d, %d bytes", p, res.StatusCode, len(body))
		}
		if p == "/v1/docs/" && (bytes.Contains(body, []byte("src=\"http")) || bytes.Contains(body, []byte("href=\"http")) || !bytes.Contains(body, []byte(`spec-url="/v1/openapi.json"`))) {
			t.Errorf("the page must load only local files and this API's document:\n%s", body)
		}
	}
}

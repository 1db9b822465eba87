package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/muster-dev/muster/internal/httpapi"
	"github.com/muster-dev/muster/internal/limit"
	"github.com/muster-dev/muster/internal/metrics"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/postgres"
	"github.com/muster-dev/muster/internal/postgres/pgtest"
	"github.com/muster-dev/muster/internal/redistest"
	"github.com/muster-dev/muster/internal/signed"
	"github.com/muster-dev/muster/internal/workbook"
	"github.com/muster-dev/muster/jobs"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	redistest.Stop()
	os.Exit(code)
}

type testBundle struct {
	db      *postgres.DB
	api     *httpapi.Server
	srv     *httptest.Server
	inspect *asynq.Inspector
	queue   *jobs.Enqueuer
	signer  *signed.Signer // the key the API checks acceptance links with
	staff   string
}

const testKey = "test-key-test-key-test-key-test-key"

func setup(t testing.TB, checks ...httpapi.Check) *testBundle {
	t.Helper()
	return setupWith(t, nil, checks...)
}

// setupWith is setup with options changed by tune (nil: none). The
// limits are the defaults, so that every test shows a real client does not
// meet them.
func setupWith(t testing.TB, tune func(*httpapi.Options, *redis.Client), checks ...httpapi.Check) *testBundle {
	t.Helper()
	db := pgtest.New(t)
	rdb := redistest.New(t)
	queue := jobs.NewEnqueuer(asynq.NewClientFromRedisClient(rdb.Client), 3)
	signer := signed.New(testKey)
	m := metrics.New()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := httpapi.Options{
		Metrics: m, MetricsHandler: m.Handler(),
		Monitor:      asynqmon.New(asynqmon.Options{RootPath: "/asynq", RedisConnOpt: sharedRedis{rdb.Client}}),
		ImportLimits: workbook.Limits{MaxBytes: 1 << 20},
		Limiter:      limit.New(rdb.Client, defaultLimits(t), log),
	}
	if tune != nil {
		tune(&opts, rdb.Client)
	}
	api := httpapi.New(db, queue, signer, checks, log, opts)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	staff, err := db.CreateToken(context.Background(), muster.TokenStaff, 0, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{db: db, api: api, srv: srv, inspect: asynq.NewInspectorFromRedisClient(rdb.Client), queue: queue, signer: signer, staff: staff}
}

func defaultLimits(t testing.TB) map[string][]muster.Rate {
	out := map[string][]muster.Rate{}
	for what, def := range muster.DefaultLimits {
		rates, err := muster.ParseRates(def)
		if err != nil {
			t.Fatal(err)
		}
		out[what] = rates
	}
	return out
}

// sharedRedis hands the test's Redis client to the Asynq web UI.
type sharedRedis struct{ c *redis.Client }

func (s sharedRedis) MakeRedisClient() any { return s.c }

// upload is a body sent as the multipart field "file".
type upload struct {
	name string
	data []byte
}

type response struct {
	status int
	body   map[string]any
	header http.Header
}

func (r response) code() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r response) message() string {
	e, _ := r.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

func (b *testBundle) do(t testing.TB, method, path, token string, body any) response {
	t.Helper()
	var rd io.Reader
	contentType := "application/json"
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case upload:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		w, err := mw.CreateFormFile("file", v.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(v.data)
		mw.Close()
		rd, contentType = &buf, mw.FormDataContentType()
	default:
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	var sent []byte
	if rd != nil {
		if sent, err = io.ReadAll(rd); err != nil {
			t.Fatal(err)
		}
		req.Body = io.NopCloser(bytes.NewReader(sent))
		req.ContentLength = int64(len(sent))
	}
	res, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := response{status: res.StatusCode, header: res.Header}
	data, _ := io.ReadAll(res.Body)
	checkContract(t, req, sent, res, data)
	// The API speaks JSON; /metrics and the queue monitor's pages do not.
	if len(data) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &out.body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %s", method, path, data)
		}
	}
	return out
}

// client creates a dashboard through the API and returns its first account
// id and a client token for it.
func (b *testBundle) client(t testing.TB, name, owner string) (accountID int64, token string) {
	t.Helper()
	res := b.do(t, "POST", "/v1/clients", b.staff, map[string]any{"name": name, "owner_email": owner})
	if res.status != http.StatusCreated {
		t.Fatalf("create client: %d %v", res.status, res.body)
	}
	acc := res.body["account"].(map[string]any)
	cl := res.body["client"].(map[string]any)
	clientID := int64(cl["id"].(float64))
	tok, err := b.db.CreateToken(context.Background(), muster.TokenClient, clientID, 0, name)
	if err != nil {
		t.Fatal(err)
	}
	return int64(acc["id"].(float64)), tok
}

func (b *testBundle) counts(t *testing.T) [3]int {
	t.Helper()
	var c [3]int
	for i, table := range []string{"contractors", "memberships", "invitations"} {
		if err := b.db.Get(&c[i], `SELECT count(*) FROM `+table); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func path(format string, id int64) string {
	return strings.Replace(format, "{id}", strconv.FormatInt(id, 10), 1)
}

func TestCreateClientNeedsAStaffToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, clientTok := b.client(t, "Acme", "owner@acme.test")
	body := map[string]any{"name": "Other", "owner_email": "o@other.test"}
	tests := []struct {
		name, token string
		status      int
		code        string
	}{
		{"no token", "", 401, "missing_token"},
		{"unknown token", "mst_nope", 401, "invalid_token"},
		{"not a muster token", "hunter2", 401, "invalid_token"},
		{"client token", clientTok, 403, "staff_only"},
		{"staff token", b.staff, 201, ""},
	}
	for _, tt := range tests {
		res := b.do(t, "POST", "/v1/clients", tt.token, body)
		if res.status != tt.status || res.code() != tt.code {
			t.Errorf("%s: %d %q, want %d %q", tt.name, res.status, res.code(), tt.status, tt.code)
		}
	}
	res := b.do(t, "POST", "/v1/clients", b.staff, body)
	if res.status != http.StatusConflict || res.code() != "manager_email_taken" {
		t.Errorf("second dashboard for one owner email: %d %v", res.status, res.body)
	}
}

func TestInviteAnswers202AndQueuesTheEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "ООО Ромашка", "boss@romashka.test")
	res := b.do(t, "POST", path("/v1/accounts/{id}/invitations", acc), tok, map[string]any{
		"email": "  Anna@Example.COM ", "full_name": "Анна", "feature": "<script>alert(1)</script> Figma", "locale": "en",
	})
	if res.status != http.StatusAccepted {
		t.Fatalf("%d %v", res.status, res.body)
	}
	c := res.body["contractor"].(map[string]any)
	inv := res.body["invitation"].(map[string]any)
	m := res.body["membership"].(map[string]any)
	if c["email"] != "anna@example.com" || inv["status"] != "queued" || inv["locale"] != "en" || inv["kind"] != "invite" {
		t.Errorf("unexpected body %v", res.body)
	}
	if m["feature"] != "<script>alert(1)</script> Figma" {
		t.Errorf("feature should be kept as typed (it is escaped where shown): %v", m["feature"])
	}
	id := int64(inv["id"].(float64))
	task, err := b.inspect.GetTaskInfo(jobs.QueueCritical, "send:"+strconv.FormatInt(id, 10))
	if err != nil {
		t.Fatalf("send task not queued: %v", err)
	}
	if task.Type != jobs.TypeSend {
		t.Errorf("task type %q", task.Type)
	}

	card := b.do(t, "GET", path("/v1/accounts/{id}/contractors/", acc)+strconv.Itoa(int(c["id"].(float64))), tok, nil)
	if card.status != 200 || len(card.body["invitations"].([]any)) != 1 {
		t.Errorf("card: %d %v", card.status, card.body)
	}

	again := b.do(t, "POST", path("/v1/accounts/{id}/invitations", acc), tok, map[string]any{"email": "anna@example.com"})
	if again.status != http.StatusConflict || again.code() != "already_member" {
		t.Errorf("inviting a member again: %d %v", again.status, again.body)
	}
}

func TestInviteBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	otherAcc, _ := b.client(t, "Other", "owner@other.test")
	var otherOwner int64
	if err := b.db.Get(&otherOwner, `SELECT id FROM managers WHERE email = 'owner@other.test'`); err != nil {
		t.Fatal(err)
	}
	before := b.counts(t)
	invite := path("/v1/accounts/{id}/invitations", acc)
	tests := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
		where  string // part of the message that says what and where
	}{
		{"empty email", invite, map[string]any{"email": ""}, 400, "invalid_email", "email is empty"},
		{"invalid email", invite, map[string]any{"email": "anna@"}, 400, "invalid_email", `"anna@"`},
		{"display name in email", invite, map[string]any{"email": "Anna <a@b.test>"}, 400, "invalid_email", "not a valid"},
		{"no domain dot", invite, map[string]any{"email": "a@localhost"}, 400, "invalid_email", "domain"},
		{"CR/LF in email", invite, map[string]any{"email": "a@b.test\r\nBcc: x@y.test"}, 400, "invalid_email", "line break"},
		{"CR/LF in name", invite, map[string]any{"email": "a@b.test", "full_name": "Anna\r\nBcc: x@y.test"}, 400, "invalid_full_name", "full_name"},
		{"unknown locale", invite, map[string]any{"email": "a@b.test", "locale": "de"}, 400, "unsupported_locale", `"de"`},
		{"unknown field", invite, map[string]any{"email": "a@b.test", "emial": "x"}, 400, "unknown_field", "emial"},
		{"wrong type", invite, map[string]any{"email": 42}, 400, "invalid_json", "email"},
		{"malformed JSON", invite, `{"email": "a@b.test",`, 400, "invalid_json", "malformed"},
		{"empty body", invite, "", 400, "invalid_json", "empty"},
		{"unknown manager", invite, map[string]any{"email": "a@b.test", "manager_ids": []int{999999}}, 400, "unknown_manager", "999999"},
		{"manager of another client", invite, map[string]any{"email": "a@b.test", "manager_ids": []int64{otherOwner}}, 400, "unknown_manager", "manager"},
		{"unknown account", "/v1/accounts/999999/invitations", map[string]any{"email": "a@b.test"}, 404, "account_not_found", "999999"},
		{"not an account id", "/v1/accounts/abc/invitations", map[string]any{"email": "a@b.test"}, 404, "account_not_found", "abc"},
		{"another client's account", path("/v1/accounts/{id}/invitations", otherAcc), map[string]any{"email": "a@b.test"}, 404, "account_not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := b.do(t, "POST", tt.path, tok, tt.body)
			if res.status != tt.status || res.code() != tt.code || !strings.Contains(res.message(), tt.where) {
				t.Errorf("%d %q %q; want %d %q mentioning %q", res.status, res.code(), res.message(), tt.status, tt.code, tt.where)
			}
		})
	}
	if after := b.counts(t); after != before {
		t.Fatalf("rows changed by bad input: %v → %v", before, after)
	}
}

// A staff-only action refuses a client's token before it reads the body:
// what the caller sent, well formed or not, changes nothing.
func TestStaffOnlyRefusesBeforeReadingTheBody(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	for _, tt := range []struct{ path, body string }{
		{"/v1/clients", `{"name": "X",`},
		{"/v1/clients", `{"name": "X", "owner_email": "o@x.test"}`},
		{path("/v1/accounts/{id}/kyb", acc), `not json`},
		{path("/v1/accounts/{id}/kyb", acc), `{"status": "verified"}`},
	} {
		res := b.do(t, "POST", tt.path, tok, tt.body)
		if res.status != http.StatusForbidden || res.code() != "staff_only" {
			t.Errorf("POST %s %s: %d %v, want 403 staff_only", tt.path, tt.body, res.status, res.body)
		}
	}
}

func TestClientTokenCannotReachAnotherClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	accA, tokA := b.client(t, "A", "owner@a.test")
	accB, tokB := b.client(t, "B", "owner@b.test")
	res := b.do(t, "POST", path("/v1/accounts/{id}/invitations", accB), tokB, map[string]any{"email": "c@b.test"})
	if res.status != 202 {
		t.Fatal(res.body)
	}
	cid := int64(res.body["contractor"].(map[string]any)["id"].(float64))
	var clientB int64
	if err := b.db.Get(&clientB, `SELECT client_id FROM accounts WHERE id = $1`, accB); err != nil {
		t.Fatal(err)
	}
	card := path("/v1/accounts/{id}/contractors/", accB) + strconv.FormatInt(cid, 10)
	// Everything of B is not found for A, exactly as if it did not exist.
	for _, probe := range []struct{ method, path string }{
		{"GET", card},
		{"POST", path("/v1/accounts/{id}/invitations", accB)},
		{"POST", path("/v1/clients/{id}/accounts", clientB)},
	} {
		res := b.do(t, probe.method, probe.path, tokA, map[string]any{"email": "x@a.test", "name": "X"})
		if res.status != 404 {
			t.Errorf("A's token on %s %s: %d %v", probe.method, probe.path, res.status, res.body)
		}
	}
	// The contractor is invisible through A's own account too.
	res = b.do(t, "GET", path("/v1/accounts/{id}/contractors/", accA)+strconv.FormatInt(cid, 10), tokA, nil)
	if res.status != 404 || res.code() != "contractor_not_found" {
		t.Errorf("B's contractor through A's account: %d %v", res.status, res.body)
	}
	// B's own token sees it; staff sees it.
	for _, tok := range []string{tokB, b.staff} {
		if res := b.do(t, "GET", card, tok, nil); res.status != 200 {
			t.Errorf("owner or staff: %d %v", res.status, res.body)
		}
	}
}

func TestCreateAccountFromScratchOrBasedOnVerified(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	otherAcc, _ := b.client(t, "Other", "owner@other.test")
	var clientID int64
	if err := b.db.Get(&clientID, `SELECT client_id FROM accounts WHERE id = $1`, acc); err != nil {
		t.Fatal(err)
	}
	accounts := path("/v1/clients/{id}/accounts", clientID)

	res := b.do(t, "POST", accounts, tok, map[string]any{"name": "Acme Projects"})
	if res.status != 201 || res.body["kyb_status"] != "pending" {
		t.Fatalf("from scratch: %d %v", res.status, res.body)
	}
	res = b.do(t, "POST", accounts, tok, map[string]any{"name": "Acme SE", "based_on_account_id": acc})
	if res.status != 400 || res.code() != "base_account_not_verified" {
		t.Errorf("based on an unverified account: %d %v", res.status, res.body)
	}
	if _, err := b.db.Exec(`UPDATE accounts SET kyb_status = 'verified' WHERE id = $1`, acc); err != nil {
		t.Fatal(err)
	}
	res = b.do(t, "POST", accounts, tok, map[string]any{"name": "Acme SE", "based_on_account_id": acc})
	if res.status != 201 || res.body["kyb_status"] != "verified" || res.body["based_on_account_id"] != float64(acc) {
		t.Errorf("based on a verified account: %d %v", res.status, res.body)
	}
	if _, err := b.db.Exec(`UPDATE accounts SET kyb_status = 'verified' WHERE id = $1`, otherAcc); err != nil {
		t.Fatal(err)
	}
	res = b.do(t, "POST", accounts, tok, map[string]any{"name": "Stolen KYB", "based_on_account_id": otherAcc})
	if res.status != 400 || res.code() != "invalid_based_on_account_id" {
		t.Errorf("based on another client's account: %d %v", res.status, res.body)
	}
	res = b.do(t, "POST", accounts, tok, map[string]any{"name": "Evil\r\nName"})
	if res.status != 400 || res.code() != "invalid_name" {
		t.Errorf("CR/LF in an account name (it reaches mail subjects): %d %v", res.status, res.body)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	down := httpapi.Check{Name: "redis", Ping: func(context.Context) error { return errors.New("connection refused") }}
	b := setup(t, httpapi.Check{Name: "postgres", Ping: func(context.Context) error { return nil }}, down)
	if res := b.do(t, "GET", "/healthz", "", nil); res.status != 200 {
		t.Errorf("healthz %d", res.status)
	}
	res := b.do(t, "GET", "/readyz", "", nil)
	checks := res.body["checks"].(map[string]any)
	if res.status != 503 || checks["redis"] != "connection refused" || checks["postgres"] != "ok" {
		t.Errorf("readyz: %d %v", res.status, res.body)
	}
	if res := b.do(t, "GET", "/v1/nowhere", b.staff, nil); res.status != 404 || res.code() != "route_not_found" {
		t.Errorf("unknown route: %d %v", res.status, res.body)
	}
}

func TestMetricsAndTheQueueMonitor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	b.do(t, "GET", path("/v1/accounts/{id}/contractors", acc), tok, nil)
	req, _ := http.NewRequest("GET", b.srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+b.staff)
	res, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	want := `muster_http_requests_total{code="200",method="GET",route="GET /v1/accounts/{id}/contractors"} 1`
	if res.StatusCode != 200 || !strings.Contains(string(body), want) || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("metrics: %d, want a line %s in:\n%.2000s", res.StatusCode, want, body)
	}

	// A browser logs in to the Asynq web UI with a staff token as the password.
	get := func(user, pass string) *http.Response {
		req, _ := http.NewRequest("GET", b.srv.URL+"/asynq/api/queues", nil)
		if pass != "" {
			req.SetBasicAuth(user, pass)
		}
		res, err := b.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := get("", ""); res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("no credentials: %d %q, want a Basic challenge", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
	if res := get("anyone", tok); res.StatusCode != 403 {
		t.Errorf("a client token: %d, want 403", res.StatusCode)
	}
	if res := get("ops", b.staff); res.StatusCode != 200 {
		t.Errorf("a staff token: %d, want 200", res.StatusCode)
	}
}

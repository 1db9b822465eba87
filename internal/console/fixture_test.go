package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	netmail "net/mail"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/config"
	"github.com/muster-dev/muster/internal/console"
	"github.com/muster-dev/muster/internal/httpapi"
	"github.com/muster-dev/muster/internal/locale"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/postgres"
	"github.com/muster-dev/muster/internal/postgres/pgtest"
	"github.com/muster-dev/muster/internal/redistest"
	"github.com/muster-dev/muster/internal/signed"
	"github.com/muster-dev/muster/internal/smtptest"
	"github.com/muster-dev/muster/internal/workbook"
	"github.com/muster-dev/muster/jobs"
	"github.com/muster-dev/muster/mail"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const testKey = "console-test-key-console-test-key-0123456789"

type testBundle struct {
	db     *postgres.DB
	con    *console.Server
	srv    *httptest.Server
	smtp   *smtptest.Server
	signer *signed.Signer
	queue  *jobs.Enqueuer
	redis  *redistest.DB
	render *mail.Renderer
	sender mail.Sender
	staff  string
	log    *slog.Logger
	t      testing.TB // the test that set it up
}

// setup serves the API and the console as the web role does, on one
// loopback port, with a real SMTP server for sign-in links.
func setup(t testing.TB) *testBundle {
	t.Helper()
	return setupWith(t, nil)
}

// setupWith is setup with the console's options, and its actions', as opt
// changes them (it may use the bundle's database and Redis).
func setupWith(t testing.TB, opt func(b *testBundle, con *console.Options, act *actions.Options)) *testBundle {
	t.Helper()
	ctx := context.Background()
	b := &testBundle{db: pgtest.New(t), redis: redistest.New(t), smtp: smtptest.Start(t), signer: signed.New(testKey),
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), t: t}
	b.queue = jobs.NewEnqueuer(asynq.NewClientFromRedisClient(b.redis.Client), 3)
	bundle, err := locale.Load()
	if err != nil {
		t.Fatal(err)
	}
	if b.render, err = mail.NewRenderer(bundle); err != nil {
		t.Fatal(err)
	}
	from := &netmail.Address{Name: "Muster", Address: "no-reply@muster.test"}
	sender, err := mail.NewSMTP(b.smtp.URL(), mail.SMTPOptions{From: from, Conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	b.sender = sender
	t.Cleanup(func() { sender.Close() })
	api := httpapi.New(b.db, b.queue, b.signer, nil, b.log)
	mux := http.NewServeMux()
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	conOpts := console.Options{
		ImportLimits: workbook.Limits{MaxBytes: 1 << 20},
		URL:          b.srv.URL, Mail: sender, Render: b.render, Domain: "muster.test", Signer: b.signer, Bundle: bundle, Monitor: "/asynq/",
	}
	actOpts := actions.Options{ResendInterval: 10 * time.Minute}
	if opt != nil {
		opt(b, &conOpts, &actOpts)
	}
	b.con, err = console.New(b.db, actions.New(b.db, b.queue, b.log, actOpts), b.log, conOpts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/v1/", "/healthz", "/readyz"} {
		mux.Handle(p, api)
	}
	mux.Handle("/", b.con)
	if b.staff, err = b.db.CreateToken(ctx, muster.TokenStaff, 0, 0, "staff"); err != nil {
		t.Fatal(err)
	}
	return b
}

// startWorker runs a real job worker on the test's Redis, so emails go out
// to the SMTP server and imports run.
func (b *testBundle) startWorker(t testing.TB) {
	t.Helper()
	w, err := jobs.NewWorker(b.redis.Client, jobs.WorkerConfig{Concurrency: 2, BulkConcurrency: 2, PollInterval: 20 * time.Millisecond,
		RetryBase: time.Second, ShutdownTimeout: 5 * time.Second, Log: b.log}, &jobs.Deps{
		Store: b.db, Queue: b.queue, Redis: b.redis.Client, Mail: b.sender, BulkMail: b.sender, Render: b.render, Signer: b.signer,
		Log: b.log, Config: &config.Config{AppURL: "http://app.test", MailFrom: "no-reply@muster.test", SendAttempts: 3, RequeueAfter: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Shutdown)
}

// waitMailTo waits for an email to addr.
func (b *testBundle) waitMailTo(t testing.TB, addr string) *smtptest.Message {
	t.Helper()
	for n := 1; ; n++ {
		for _, m := range b.smtp.Wait(t, n, 20*time.Second) {
			if slices.Contains(m.To, addr) {
				return m
			}
		}
	}
}

// call makes a JSON API call and decodes the answer.
func (b *testBundle) call(t testing.TB, method, path, token string, body any, want int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, b.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %v", method, path, res.StatusCode, want, out)
	}
	return out
}

// dashboard is a client made through the API: two accounts, contractors,
// a manager of every role with a token, and an owner who signs in by email.
type dashboard struct {
	clientID   int64
	account    int64 // given to admin, manager and viewer
	other      int64 // given only to noaccess
	contractor int64 // invited just now: a resend is throttled
	spare      int64 // to exclude
	imported   int64 // a finished import into account, with a failed row
	target     int64 // an invited viewer of account, not accepted yet
	merge      int64 // a dry-run merge of a sibling dashboard into this one
	ownerEmail string
	tokens     map[string]string
}

func (b *testBundle) dashboard(t testing.TB, name string) *dashboard {
	t.Helper()
	ctx := context.Background()
	slug := strings.ToLower(strings.ReplaceAll(name, " ", ""))
	d := &dashboard{ownerEmail: "owner@" + slug + ".test", tokens: map[string]string{"staff": b.staff, "anon": ""}}
	res := b.call(t, "POST", "/v1/clients", b.staff, map[string]any{"name": name, "owner_email": d.ownerEmail, "account_name": name + " Main"}, 201)
	d.clientID, d.account = num(obj(res["client"])["id"]), num(obj(res["account"])["id"])
	var err error
	if d.tokens["client"], err = b.db.CreateToken(ctx, muster.TokenClient, d.clientID, 0, name+" client"); err != nil {
		t.Fatal(err)
	}
	var owner int64
	if err := b.db.Get(&owner, `SELECT id FROM managers WHERE client_id = $1 AND role = 'owner'`, d.clientID); err != nil {
		t.Fatal(err)
	}
	if d.tokens["owner"], err = b.db.CreateToken(ctx, muster.TokenManager, 0, owner, "owner"); err != nil {
		t.Fatal(err)
	}
	d.other = num(b.call(t, "POST", fmt.Sprintf("/v1/clients/%d/accounts", d.clientID), d.tokens["client"], map[string]any{"name": name + " Projects"}, 201)["id"])
	for _, m := range []struct {
		who, role string
		account   int64
	}{
		{"admin", "admin", d.account}, {"manager", "manager", d.account}, {"viewer", "viewer", d.account}, {"noaccess", "manager", d.other},
	} {
		res := b.call(t, "POST", fmt.Sprintf("/v1/clients/%d/managers", d.clientID), d.tokens["client"],
			map[string]any{"email": m.who + "@" + slug + ".test", "full_name": strings.ToUpper(m.who[:1]) + m.who[1:] + " " + name, "role": m.role, "account_ids": []int64{m.account}}, 202)
		tok := b.signer.Sign(jobs.ManagerPurpose, strconv.FormatInt(num(obj(res["invitation"])["id"]), 10), time.Hour)
		d.tokens[m.who] = b.call(t, "POST", "/v1/manager-invitations/accept", "", map[string]any{"token": tok}, 200)["token"].(string)
	}
	d.target = num(obj(b.call(t, "POST", fmt.Sprintf("/v1/clients/%d/managers", d.clientID), d.tokens["client"],
		map[string]any{"email": "target@" + slug + ".test", "role": "viewer", "account_ids": []int64{d.account}}, 202)["manager"])["id"])
	d.contractor = num(obj(b.call(t, "POST", fmt.Sprintf("/v1/accounts/%d/invitations", d.account), d.tokens["client"],
		map[string]any{"email": "anna@" + slug + ".test", "full_name": "Анна Петрова", "feature": "Figma, UI kits"}, 202)["contractor"])["id"])
	d.spare = num(obj(b.call(t, "POST", fmt.Sprintf("/v1/accounts/%d/invitations", d.account), d.tokens["client"],
		map[string]any{"email": "spare@" + slug + ".test"}, 202)["contractor"])["id"])
	b.call(t, "POST", "/v1/clients", b.staff, map[string]any{"name": name + " Sibling", "owner_email": "owner@sibling-" + slug + ".test"}, 201)
	d.merge = num(b.call(t, "POST", "/v1/merges", b.staff, map[string]any{"target_owner_email": d.ownerEmail,
		"source_owner_emails": []string{"owner@sibling-" + slug + ".test"}, "dry_run": true}, 202)["id"])
	d.imported = b.upload(t, d.account, d.tokens["client"], "team.csv", "email;name\nivan@"+slug+".test;Ivan\nnot-an-email;Bad\n")
	imp := &jobs.Importer{Store: b.db, Queue: b.queue, Log: b.log}
	if err := imp.Process(ctx, jobs.ImportArgs{ImportID: d.imported}); err != nil {
		t.Fatal(err)
	}
	return d
}

// upload sends a file to the API's import endpoint and returns the import.
func (b *testBundle) upload(t testing.TB, account int64, token, name, data string) int64 {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", name)
	io.WriteString(fw, data)
	mw.Close()
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/v1/accounts/%d/imports", b.srv.URL, account), &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %d %v", res.StatusCode, out)
	}
	return num(out["id"])
}

// browserClient is an HTTP client with a cookie jar that does not follow
// redirects, so each answer's own status is seen.
func browserClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// session signs in with a token through the form and returns the client
// holding the session cookie ("" stays signed out).
func (b *testBundle) session(t testing.TB, token string) *http.Client {
	t.Helper()
	c := browserClient()
	if token == "" {
		return c
	}
	res, err := c.PostForm(b.srv.URL+"/signin/token", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in with a token: %d", res.StatusCode)
	}
	return c
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

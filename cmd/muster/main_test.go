package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/postgres/pgtest"
	"github.com/muster-dev/muster/internal/redistest"
	"github.com/muster-dev/muster/internal/smtptest"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	redistest.Stop()
	os.Exit(code)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// env is a getenv over a map.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// served is `muster serve` running in-process for one test.
type served struct {
	base string
	vars map[string]string
	smtp *smtptest.Server
	// stop cancels serve and waits for it to end; it runs at cleanup too.
	stop func() error
}

// startServe runs `muster serve` on its own PostgreSQL database, Redis
// database and SMTP server, with extra settings, and waits until it is ready.
func startServe(t testing.TB, extra map[string]string) *served {
	t.Helper()
	s := &served{smtp: smtptest.Start(t)}
	s.vars = map[string]string{
		"DATABASE_URL":  pgtest.NewURL(t),
		"REDIS_URL":     redistest.New(t).URL,
		"SMTP_URL":      s.smtp.URL(),
		"HTTP_ADDR":     freeAddr(t),
		"POLL_INTERVAL": "20ms",
		"LOG_LEVEL":     "warn",
	}
	maps.Copy(s.vars, extra)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() { done <- run(ctx, []string{"serve"}, env(s.vars), &logs, &logs) }()
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					stopErr = fmt.Errorf("serve: %w\n%s", err, logs.String())
				}
			case <-time.After(30 * time.Second):
				stopErr = errors.New("serve did not stop after its context ended")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})
	s.base = "http://" + s.vars["HTTP_ADDR"]
	waitReady(t, s.base+"/readyz")
	return s
}

// staffToken runs `muster token create --staff`.
func (s *served) staffToken(t testing.TB) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"token", "create", "--staff", "--name", "e2e"}, env(s.vars), &out, &errOut); err != nil {
		t.Fatalf("token create: %v\n%s", err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// TestServeInvitesEndToEnd runs the real binary's wiring: serve, a token
// from the command line, two API calls, and a Russian invitation arriving
// at the SMTP server; then a clean shutdown.
func TestServeInvitesEndToEnd(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil)
	tok := s.staffToken(t)
	res := post(t, s.base+"/v1/clients", tok, `{"name":"ООО Ромашка","owner_email":"boss@romashka.test"}`)
	acc := int64(res["account"].(map[string]any)["id"].(float64))
	post(t, s.base+"/v1/accounts/"+strconv.FormatInt(acc, 10)+"/invitations", tok, `{"email":"anna@example.test","full_name":"Анна"}`)

	m := s.smtp.Wait(t, 1, 15*time.Second)[0]
	if m.Subject != "ООО Ромашка приглашает вас в команду «ООО Ромашка»" || !strings.Contains(m.Text, "Здравствуйте, Анна!") {
		t.Errorf("got %q:\n%s", m.Subject, m.Text)
	}
	// The sent count follows the SMTP server's acceptance by a moment, and
	// the owed gauge follows PostgreSQL's record of the outcome a moment later.
	wants := []string{`muster_build_info{goversion="go`, `muster_emails_owed{age="under_1m"} 0`,
		`muster_emails_total{kind="invite",locale="ru",outcome="sent"} 1`}
	var body string
	missing := func() []string {
		var out []string
		for _, want := range wants {
			if !strings.Contains(body, want) {
				out = append(out, want)
			}
		}
		return out
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if body = s.get(t, "/metrics", tok); len(missing()) == 0 {
			break
		}
	}
	for _, want := range missing() {
		t.Errorf("/metrics lacks %s", want)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestBadConfigurationNamesTheVariable(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"REDIS_URL":          "localhost:6379",
		"DATABASE_URL":       "mysql://x",
		"POLL_INTERVAL":      "fast",
		"WORKER_CONCURRENCY": "0",
		"SMTP_URL":           "http://mail",
		"SECRET_KEY":         "short",
	}
	for name, value := range tests {
		err := run(context.Background(), []string{"serve"}, env(map[string]string{name: value}), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s=%q: error %v should be one line naming %s", name, value, err, name)
		}
	}
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), args, env(nil), &out, &out)
		return out.String(), err
	}
	for _, args := range [][]string{{"frobnicate"}, {"token", "create", "--staff", "--client", "3"}, {"token", "create"}, {"import", "team.xlsx"}, {"mail", "1", "2"}} {
		if _, err := cli(args...); err == nil || !strings.Contains(err.Error(), "--help' for usage") || exitCode(err) != exitUsage {
			t.Errorf("%q: %v (exit %d), want exit %d and a pointer to --help", args, err, exitCode(err), exitUsage)
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"serve", "-h"}, {"token", "create", "--help"}, {"import", "-h"}, {"help", "token"}} {
		if out, err := cli(args...); err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("%q: %v, output %q; want usage and success", args, err, out)
		}
	}
	want := "muster " + version() + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if out, err := cli(args...); err != nil || out != want || !strings.Contains(out, "go1.") {
			t.Errorf("%q: %v, %q, want %q", args, err, out, want)
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if out, err := cli("completion", shell); err != nil || !strings.Contains(out, "muster") || len(out) < 500 {
			t.Errorf("completion %s: %v, %d bytes", shell, err, len(out))
		}
	}
}

func waitReady(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready", url)
}

func post(t testing.TB, url, token, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode >= 300 {
		t.Fatalf("POST %s: %d %v", url, res.StatusCode, out)
	}
	return out
}

// TestServeManagerAcceptsTheEmailedLink checks the wiring that makes an
// acceptance link work: the worker signs it, the API checks it, with the
// key the processes share through the database.
func TestServeManagerAcceptsTheEmailedLink(t *testing.T) {
	t.Parallel()
	s := startServe(t, map[string]string{"APP_URL": "https://app.example.test/"})
	tok := s.staffToken(t)
	res := post(t, s.base+"/v1/clients", tok, `{"name":"Acme","owner_email":"boss@acme.test"}`)
	client := strconv.FormatInt(int64(res["client"].(map[string]any)["id"].(float64)), 10)
	acc := strconv.FormatInt(int64(res["account"].(map[string]any)["id"].(float64)), 10)
	post(t, s.base+"/v1/clients/"+client+"/managers", tok, `{"email":"olga@acme.test","role":"viewer","account_ids":[`+acc+`],"locale":"en"}`)

	m := s.smtp.Wait(t, 1, 15*time.Second)[0]
	_, link, ok := strings.Cut(m.Text, "https://app.example.test/managers/accept?token=")
	if !ok {
		t.Fatalf("no acceptance link:\n%s", m.Text)
	}
	token, err := url.QueryUnescape(strings.Fields(link)[0])
	if err != nil {
		t.Fatal(err)
	}
	res = post(t, s.base+"/v1/manager-invitations/accept", "", `{"token":"`+token+`"}`)
	if res["manager"].(map[string]any)["status"] != "active" || !strings.HasPrefix(res["token"].(string), "mst_") {
		t.Fatalf("accept: %v", res)
	}
}

// get fetches a path of the served API with a token and returns the body.
func (s *served) get(t testing.TB, path, token string) string {
	t.Helper()
	req, err := http.NewRequest("GET", s.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/muster-dev/muster/internal/postgres/pgtest"
	"github.com/muster-dev/muster/internal/redistest"
	"github.com/muster-dev/muster/internal/smtptest"
)

// TestImportCommand runs `muster import` against a running `muster serve`:
// progress, the summary, the error report beside the file, the emails; a
// rejected file is an error.
func TestImportCommand(t *testing.T) {
	t.Parallel()
	smtp := smtptest.Start(t)
	vars := map[string]string{
		"DATABASE_URL": pgtest.NewURL(t), "REDIS_URL": redistest.New(t).URL, "SMTP_URL": smtp.URL(),
		"HTTP_ADDR": freeAddr(t), "POLL_INTERVAL": "20ms", "LOG_LEVEL": "warn",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() { done <- run(ctx, []string{"serve"}, env(vars), &logs, &logs) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + vars["HTTP_ADDR"]
	waitReady(t, base+"/readyz")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"token", "create", "--staff"}, env(vars), &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	res := post(t, base+"/v1/clients", strings.TrimSpace(out.String()), `{"name":"ООО Ромашка","owner_email":"boss@romashka.test"}`)
	acc := strconv.Itoa(int(res["account"].(map[string]any)["id"].(float64)))

	dir := t.TempDir()
	file := filepath.Join(dir, "team.xlsx")
	f := excelize.NewFile()
	for i, row := range [][]any{{"Email", "ФИО"}, {"anna@example.test", "Анна"}, {"boris@example.test", "Борис"}, {"oops", "Плохой"}} {
		if err := f.SetSheetRow("Sheet1", "A"+strconv.Itoa(i+1), &row); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SaveAs(file); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	// A row failed: exit status 3, not the 1 of a rejected file.
	if err := run(context.Background(), []string{"import", "--account", acc, file}, env(vars), &stdout, &stderr); exitCode(err) != exitRowsFailed {
		t.Fatalf("import with a failed row: %v (exit %d)\n%s", err, exitCode(err), stderr.String())
	}
	for _, want := range []string{": done", "rows read        3", "created          2", "failed           1", "team.errors.xlsx"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "done, 3/3 rows") {
		t.Errorf("no progress reaching 3/3 in:\n%s", stderr.String())
	}
	report, err := excelize.OpenFile(filepath.Join(dir, "team.errors.xlsx"))
	if err != nil {
		t.Fatalf("error report: %v", err)
	}
	rows, _ := report.GetRows("Sheet1")
	if len(rows) != 2 || rows[1][0] != "oops" || !strings.Contains(rows[1][2], "Row 4") {
		t.Errorf("error report %q", rows)
	}
	smtp.Wait(t, 2, 15*time.Second)

	bad := filepath.Join(dir, "notes.csv")
	if err := os.WriteFile(bad, []byte("ФИО;Телефон\nАнна;+79161234567\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	err = run(context.Background(), []string{"import", "--account", acc, bad}, env(vars), &stdout, &bytes.Buffer{})
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "no email column") || !strings.Contains(stdout.String(), "rejected") {
		t.Errorf("a file without an email column: %v\n%s", err, stdout.String())
	}
	err = run(context.Background(), []string{"import", "--account", acc, filepath.Join(dir, "missing.xlsx")}, env(vars), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil {
		t.Error("a missing file should fail")
	}
	// A preview of the same file: two members now, one failure, nothing written.
	stdout.Reset()
	err = run(context.Background(), []string{"import", "--account", acc, "--preview", "--mapping", `{"full_name": "B"}`, file}, env(vars), &stdout, &bytes.Buffer{})
	if exitCode(err) != exitRowsFailed {
		t.Errorf("preview with a failing row: %v (exit %d)\n%s", err, exitCode(err), stdout.String())
	}
	for _, want := range []string{": previewed", "member           2", "failed           1", "row 4:", "→ full_name (mapping)", "--confirm"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("preview lacks %q:\n%s", want, stdout.String())
		}
	}
	if err := run(context.Background(), []string{"import", "--account", acc, "--mapping", `{"salary": "B"}`, file}, env(vars), &bytes.Buffer{}, &bytes.Buffer{}); exitCode(err) != exitUsage {
		t.Errorf("a bad mapping: %v (exit %d)", err, exitCode(err))
	}
	stdout.Reset()
	if err := run(context.Background(), []string{"import", "--help"}, env(vars), &stdout, &bytes.Buffer{}); err != nil || !strings.Contains(stdout.String(), "Exit status") {
		t.Errorf("--help: %v (exit %d)\n%s", err, exitCode(err), stdout.String())
	}
	if err := run(context.Background(), []string{"import", "--bogus"}, env(vars), &bytes.Buffer{}, &bytes.Buffer{}); exitCode(err) != exitUsage {
		t.Errorf("a bad flag: %v (exit %d)", err, exitCode(err))
	}
}

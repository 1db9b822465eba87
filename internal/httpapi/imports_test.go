package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/jobs"
)

// send does a request with a raw body and returns the status and body.
func (b *testBundle) send(t *testing.T, method, path, token, contentType string, body io.Reader) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, data
}

// uploadFile posts data as the multipart field "file".
func (b *testBundle) uploadFile(t *testing.T, account int64, token, name string, data []byte) response {
	t.Helper()
	return b.do(t, "POST", path("/v1/accounts/{id}/imports", account), token, upload{name, data})
}

// runImport does what a worker does with the import task.
func (b *testBundle) runImport(t *testing.T, id int64, onBatch func(*muster.BatchResult)) {
	t.Helper()
	imp := &jobs.Importer{Store: b.db, Queue: b.queue, BatchSize: 2, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), OnBatch: onBatch}
	if err := imp.Process(context.Background(), jobs.ImportArgs{ImportID: id}); err != nil {
		t.Fatal(err)
	}
}

func (b *testBundle) template(t *testing.T, token string) *excelize.File {
	t.Helper()
	status, header, data := b.send(t, "GET", "/v1/imports/template.xlsx", token, "", nil)
	if status != 200 || header.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
		t.Fatalf("template: %d %s", status, header)
	}
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func xlsxBytes(t *testing.T, f *excelize.File) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The whole round trip a client makes: download the template, fill it,
// upload it, follow it, download the failed rows, fix them, upload again.
func TestImportRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "ООО Ромашка", "boss@romashka.test")
	f := b.template(t, tok)
	rows := [][]any{
		{"anna@example.test", "Анна", "8 916 123-45-67", "<b>Figma</b>", "boss@romashka.test", "ru"},
		{"bad@", "=HYPERLINK(\"http://evil.test\",\"click\")", "", "", "", ""},
		{"boris@example.test", "Борис", "", "", "nobody@romashka.test", ""},
		{"Anna@Example.test ", "дубль", "", "", "", ""},
		{"vera@example.test", "Вера", "", "", "", "en"},
	}
	for i, r := range rows {
		if err := f.SetSheetRow("Исполнители", fmt.Sprintf("A%d", i+2), &r); err != nil {
			t.Fatal(err)
		}
	}
	file := xlsxBytes(t, f)
	res := b.uploadFile(t, acc, tok, "команда.xlsx", file)
	if res.status != http.StatusAccepted || res.body["duplicate"] != false {
		t.Fatalf("upload: %d %v", res.status, res.body)
	}
	id := int64(res.body["id"].(float64))
	if _, err := b.inspect.GetTaskInfo(jobs.QueueImports, "import:"+strconv.FormatInt(id, 10)); err != nil {
		t.Fatalf("import task not queued: %v", err)
	}
	b.runImport(t, id, nil)

	st := b.do(t, "GET", path("/v1/imports/{id}", id), tok, nil)
	want := map[string]float64{"total_rows": 5, "processed_rows": 5, "created": 2, "linked": 0, "skipped": 1, "failed": 2}
	for k, v := range want {
		if st.body[k] != v {
			t.Errorf("%s = %v, want %v (%v)", k, st.body[k], v, st.body)
		}
	}
	if st.body["status"] != "done" || st.body["started_at"] == nil || st.body["finished_at"] == nil {
		t.Errorf("status %v", st.body)
	}

	errs := b.do(t, "GET", path("/v1/imports/{id}/errors", id), tok, nil)
	list := errs.body["errors"].([]any)
	if errs.status != 200 || len(list) != 2 {
		t.Fatalf("errors: %d %v", errs.status, errs.body)
	}
	first := list[0].(map[string]any)
	if first["row"] != 3.0 || first["column"] != "Электронная почта / Email" || first["code"] != "invalid_email" {
		t.Errorf("first error %v", first)
	}
	if second := list[1].(map[string]any); second["row"] != 4.0 || second["column"] != "Менеджер / Manager" || second["code"] != "unknown_manager" {
		t.Errorf("second error %v", second)
	}

	status, header, data := b.send(t, "GET", path("/v1/imports/{id}/errors?format=xlsx", id), tok, "", nil)
	if status != 200 || !strings.Contains(header.Get("Content-Disposition"), "errors.xlsx") {
		t.Fatalf("error workbook: %d %s", status, data)
	}
	report, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	got, err := report.GetRows("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(got[0]) != 7 || got[0][6] != "Ошибка / Error" || got[1][0] != "bad@" || got[2][0] != "boris@example.test" ||
		!strings.Contains(got[1][6], "Row 3") || !strings.Contains(got[2][6], "nobody@romashka.test") {
		t.Fatalf("error workbook rows %q", got)
	}
	if formula, _ := report.GetCellFormula("Sheet1", "B2"); formula != "" || got[1][1] != `'=HYPERLINK("http://evil.test","click")` {
		t.Errorf("a formula-like name must stay text: formula %q, value %q", formula, got[1][1])
	}

	// The client fixes both rows and uploads the report as it is.
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(report.SetCellStr("Sheet1", "A2", "fixed@example.test"))
	must(report.SetCellStr("Sheet1", "E3", "boss@romashka.test"))
	again := b.uploadFile(t, acc, tok, "import-errors.xlsx", xlsxBytes(t, report))
	if again.status != http.StatusAccepted {
		t.Fatalf("re-upload: %d %v", again.status, again.body)
	}
	id2 := int64(again.body["id"].(float64))
	b.runImport(t, id2, nil)
	st = b.do(t, "GET", path("/v1/imports/{id}", id2), tok, nil)
	if st.body["created"] != 2.0 || st.body["failed"] != 0.0 || len(st.body["ignored_columns"].([]any)) != 0 {
		t.Errorf("re-upload imported %v", st.body)
	}
	var name string
	if err := b.db.Get(&name, `SELECT full_name FROM memberships WHERE email = 'fixed@example.test'`); err != nil || name != `=HYPERLINK("http://evil.test","click")` {
		t.Errorf("the name came back as %q (%v); it should be exactly what was typed", name, err)
	}
	if n := b.counts(t); n[1] != 4 {
		t.Errorf("%d memberships, want 4", n[1])
	}

	// The same file again: nothing new, and the answer says so.
	dup := b.uploadFile(t, acc, tok, "копия.xlsx", file)
	if dup.status != http.StatusOK || dup.body["duplicate"] != true || dup.body["id"] != float64(id) {
		t.Errorf("same file again: %d %v", dup.status, dup.body)
	}
}

// The event stream sends progress while the import runs and ends with it.
func TestImportEventsFollowProgress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	var csv strings.Builder
	csv.WriteString("email\n")
	for i := range 6 {
		fmt.Fprintf(&csv, "u%d@example.test\n", i)
	}
	id := int64(b.uploadFile(t, acc, tok, "list.csv", []byte(csv.String())).body["id"].(float64))

	req, _ := http.NewRequest("GET", b.srv.URL+path("/v1/imports/{id}/events", id), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", res.StatusCode, res.Header)
	}
	type event struct {
		name string
		im   muster.Import
	}
	events := make(chan event)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(res.Body)
		var name string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				var im muster.Import
				if err := json.Unmarshal([]byte(v), &im); err != nil {
					t.Error(err)
				}
				events <- event{name, im}
			}
		}
	}()
	if e := <-events; e.name != "progress" || e.im.Status != muster.ImportQueued {
		t.Fatalf("first event %+v", e)
	}
	// Each batch waits until the stream has shown it: progress that moves.
	var shown []int
	b.runImport(t, id, func(r *muster.BatchResult) {
		for e := range events {
			if e.im.ProcessedRows == r.Import.ProcessedRows {
				shown = append(shown, e.im.ProcessedRows)
				return
			}
		}
	})
	last, ok := <-events
	for e := range events {
		last = e
	}
	if !ok || last.name != "done" || last.im.Status != muster.ImportDone || last.im.Created != 6 {
		t.Errorf("last event %+v", last)
	}
	if !slices.Equal(shown, []int{2, 4, 6}) {
		t.Errorf("progress shown %v, want 2, 4, 6", shown)
	}
}

func TestImportBadUploads(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	otherAcc, otherTok := b.client(t, "Other", "owner@other.test")
	otherImport := int64(b.uploadFile(t, otherAcc, otherTok, "x.csv", []byte("email\na@b.test\n")).body["id"].(float64))
	var clientID int64
	if err := b.db.Get(&clientID, `SELECT client_id FROM accounts WHERE id = $1`, acc); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Exec(`INSERT INTO managers (client_id, email, role, status) VALUES ($1, 'viewer@acme.test', 'viewer', 'active')`, clientID); err != nil {
		t.Fatal(err)
	}
	var viewerID int64
	b.db.Get(&viewerID, `SELECT id FROM managers WHERE email = 'viewer@acme.test'`)
	b.db.Exec(`INSERT INTO manager_accounts VALUES ($1, $2)`, viewerID, acc)
	viewer, err := b.db.CreateToken(context.Background(), muster.TokenManager, 0, viewerID, "viewer")
	if err != nil {
		t.Fatal(err)
	}
	xls := append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 600)...)
	tests := []struct {
		name   string
		acc    int64
		token  string
		file   string
		data   []byte
		status int
		code   string
	}{
		{"a photo", acc, tok, "photo.jpg", []byte("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00"), 415, "not_a_workbook"},
		{"an old .xls", acc, tok, "old.xls", xls, 400, "corrupt_workbook"},
		{"another client's account", otherAcc, tok, "x.csv", []byte("email\na@b.test\n"), 404, "account_not_found"},
		{"a viewer", acc, viewer, "x.csv", []byte("email\na@b.test\n"), 403, "forbidden"},
		{"too large", acc, tok, "big.csv", bytes.Repeat([]byte("email\n"), 2<<20), 413, "file_too_large"},
	}
	before := b.counts(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := b.uploadFile(t, tt.acc, tt.token, tt.file, tt.data)
			if res.status != tt.status || res.code() != tt.code {
				t.Errorf("%d %v; want %d %s", res.status, res.body, tt.status, tt.code)
			}
		})
	}
	status, _, data := b.send(t, "POST", path("/v1/accounts/{id}/imports", acc), tok, "application/json", strings.NewReader(`{}`))
	if status != 415 || !strings.Contains(string(data), "multipart") {
		t.Errorf("JSON instead of a file: %d %s", status, data)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("note", "no file here")
	mw.Close()
	status, _, data = b.send(t, "POST", path("/v1/accounts/{id}/imports", acc), tok, mw.FormDataContentType(), &body)
	if status != 400 || !strings.Contains(string(data), "missing_file") {
		t.Errorf("no file field: %d %s", status, data)
	}
	for _, p := range []string{"/v1/imports/{id}", "/v1/imports/{id}/errors", "/v1/imports/{id}/events"} {
		if res := b.do(t, "GET", path(p, otherImport), tok, nil); res.status != 404 || res.code() != "import_not_found" {
			t.Errorf("another client's import via %s: %d %v", p, res.status, res.body)
		}
	}
	if after := b.counts(t); after != before {
		t.Errorf("rows changed by bad uploads: %v → %v", before, after)
	}
	var imports int
	b.db.Get(&imports, `SELECT count(*) FROM imports`)
	if imports != 1 {
		t.Errorf("%d imports stored, want only the other client's", imports)
	}
}

package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/jobs"
)

// uploadWith posts a file with extra form fields to path (query included).
func (b *testBundle) uploadWith(t *testing.T, path, token, name string, data []byte, fields map[string]string) response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	w, _ := mw.CreateFormFile("file", name)
	w.Write(data)
	mw.Close()
	status, header, raw := b.send(t, "POST", path, token, mw.FormDataContentType(), &body)
	res := response{status: status, header: header}
	if err := json.Unmarshal(raw, &res.body); err != nil {
		t.Fatalf("%s: %d %s", path, status, raw)
	}
	return res
}

func idOf(res response) int64 { return int64(res.body["id"].(float64)) }

// A preview classifies every row, in every class, without writing or
// sending anything; confirming it imports the same stored file with the
// same outcome; an unconfirmed preview expires.
func TestImportPreviewAndConfirm(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "ООО Ромашка", "boss@romashka.test")
	if res := b.do(t, "POST", path("/v1/accounts/{id}/invitations", acc), tok, map[string]any{"email": "member@example.test"}); res.status != http.StatusAccepted {
		t.Fatalf("invite: %d %v", res.status, res.body)
	}
	if _, err := b.db.Exec(`INSERT INTO contractors (email, registered_at) VALUES ('reg@example.test', now())`); err != nil {
		t.Fatal(err)
	}
	// Detection would take "Email"; the mapping says the address is in "Рабочая почта".
	file := []byte("ФИО;Email;Рабочая почта\n" +
		"Новый;x1@old.test;new@example.test\n" +
		"Зарегистрированный;x2@old.test;reg@example.test\n" +
		"Участник;x3@old.test;member@example.test\n" +
		"Дубль;x4@old.test;New@Example.test\n" +
		"Плохой;x5@old.test;not-an-email\n")
	before := b.counts(t)
	res := b.uploadWith(t, path("/v1/accounts/{id}/imports", acc)+"?mode=preview", tok, "team.csv", file,
		map[string]string{"mapping": `{"email": "Рабочая почта"}`})
	if res.status != http.StatusAccepted {
		t.Fatalf("preview upload: %d %v", res.status, res.body)
	}
	pid := idOf(res)
	b.runImport(t, pid, nil)

	st := b.do(t, "GET", path("/v1/imports/{id}", pid), tok, nil)
	if st.body["status"] != "previewed" || st.body["mode"] != "preview" || st.body["expires_at"] == nil || st.body["header_row"] != 1.0 {
		t.Fatalf("preview status %v", st.body)
	}
	p := st.body["preview"].(map[string]any)
	counts := p["counts"].(map[string]any)
	for class, want := range map[string]float64{"created": 1, "linked": 1, "member": 1, "duplicate": 1, "failed": 1} {
		if counts[class] != want {
			t.Errorf("%s: %v, want %v (%v)", class, counts[class], want, counts)
		}
	}
	samples := p["samples"].(map[string]any)
	if s := samples["linked"].([]any)[0].(map[string]any); s["row"] != 3.0 || s["email"] != "reg@example.test" {
		t.Errorf("linked sample %v", s)
	}
	if s := samples["failed"].([]any)[0].(map[string]any); s["row"] != 6.0 || !strings.Contains(string(mustJSON(t, s)), "invalid_email") {
		t.Errorf("failed sample %v", s)
	}
	if s := samples["duplicate"].([]any)[0].(map[string]any); s["row"] != 5.0 {
		t.Errorf("duplicate sample %v", s)
	}
	cols := string(mustJSON(t, p["columns"]))
	if !strings.Contains(cols, `{"column":"C","field":"email","header":"Рабочая почта","mapped":true}`) || !strings.Contains(cols, `"field":"full_name"`) {
		t.Errorf("columns %s", cols)
	}
	if ign := st.body["ignored_columns"].([]any); len(ign) != 1 || ign[0] != "Email" {
		t.Errorf("ignored %v", ign)
	}
	if after := b.counts(t); after != before {
		t.Errorf("a preview wrote rows: %v → %v", before, after)
	}

	conf := b.do(t, "POST", path("/v1/imports/{id}/confirm", pid), tok, nil)
	if conf.status != http.StatusAccepted || idOf(conf) == pid {
		t.Fatalf("confirm: %d %v", conf.status, conf.body)
	}
	iid := idOf(conf)
	b.runImport(t, iid, nil)
	st = b.do(t, "GET", path("/v1/imports/{id}", iid), tok, nil)
	for k, v := range map[string]float64{"created": 1, "linked": 1, "skipped": 2, "failed": 1} {
		if st.body[k] != v {
			t.Errorf("import %s = %v, want %v (%v)", k, st.body[k], v, st.body)
		}
	}
	if st.body["mode"] != "import" || st.body["mapping"].(map[string]any)["email"] != "Рабочая почта" {
		t.Errorf("the import keeps the preview's mapping: %v", st.body)
	}
	if again := b.do(t, "POST", path("/v1/imports/{id}/confirm", pid), tok, nil); again.status != http.StatusOK || idOf(again) != iid || again.body["duplicate"] != true {
		t.Errorf("confirm twice: %d %v", again.status, again.body)
	}
	if res := b.do(t, "POST", path("/v1/imports/{id}/confirm", iid), tok, nil); res.status != http.StatusConflict || res.code() != "not_a_preview" {
		t.Errorf("confirm an import: %d %v", res.status, res.body)
	}

	// Another preview, left unconfirmed past its expiry.
	old := idOf(b.uploadWith(t, path("/v1/accounts/{id}/imports", acc)+"?mode=preview", tok, "late.csv", []byte("email\nlate@example.test\n"), nil))
	b.runImport(t, old, nil)
	if _, err := b.db.Exec(`UPDATE imports SET expires_at = now() - interval '1 second' WHERE id = $1`, old); err != nil {
		t.Fatal(err)
	}
	if res := b.do(t, "POST", path("/v1/imports/{id}/confirm", old), tok, nil); res.status != http.StatusConflict || res.code() != "preview_expired" {
		t.Errorf("confirm an expired preview: %d %v", res.status, res.body)
	}
	n, err := b.db.ExpirePreviews(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("expired %d previews: %v", n, err)
	}
	var chunks int
	b.db.Get(&chunks, `SELECT count(*) FROM import_chunks WHERE import_id = $1`, old)
	if st := b.do(t, "GET", path("/v1/imports/{id}", old), tok, nil); st.body["status"] != "expired" || chunks != 0 {
		t.Errorf("expired preview: %v, %d chunks kept", st.body["status"], chunks)
	}

	// Bad requests.
	if res := b.uploadWith(t, path("/v1/accounts/{id}/imports", acc)+"?mode=dry", tok, "x.csv", file, nil); res.status != 400 || res.code() != "invalid_mode" {
		t.Errorf("bad mode: %d %v", res.status, res.body)
	}
	if res := b.uploadWith(t, path("/v1/accounts/{id}/imports", acc), tok, "x.csv", file, map[string]string{"mapping": `{"salary":"B"}`}); res.status != 400 || res.code() != "invalid_mapping" {
		t.Errorf("bad mapping: %d %v", res.status, res.body)
	}

	// The history: newest first, with counts and who uploaded.
	hist := b.do(t, "GET", path("/v1/accounts/{id}/imports", acc), tok, nil)
	list := hist.body["imports"].([]any)
	if hist.status != 200 || len(list) != 3 {
		t.Fatalf("history: %d %v", hist.status, hist.body)
	}
	first := list[0].(map[string]any)
	if first["id"] != float64(old) || list[1].(map[string]any)["id"] != float64(iid) || first["uploaded_by"].(map[string]any)["kind"] != "client" {
		t.Errorf("history order or uploader: %v", list)
	}
	page := b.do(t, "GET", path("/v1/accounts/{id}/imports", acc)+"?limit=1", tok, nil)
	if page.body["next_before"] != float64(old) || len(page.body["imports"].([]any)) != 1 {
		t.Errorf("first page %v", page.body)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Cancelling mid-import keeps the committed batches, cancels their unsent
// emails, and writes nothing more.
func TestImportCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	var csv strings.Builder
	csv.WriteString("email\n")
	for _, u := range []string{"a", "b", "c", "d", "e", "f"} {
		csv.WriteString(u + "@example.test\n")
	}
	id := idOf(b.uploadFile(t, acc, tok, "six.csv", []byte(csv.String())))
	batches := 0
	imp := &jobs.Importer{Store: b.db, Queue: b.queue, BatchSize: 2, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnBatch: func(*muster.BatchResult) {
			if batches++; batches == 1 {
				res := b.do(t, "POST", path("/v1/imports/{id}/cancel", id), tok, nil)
				if res.status != 200 || res.body["cancelled_emails"] != 2.0 {
					t.Errorf("cancel: %d %v", res.status, res.body)
				}
			}
		}}
	if err := imp.Process(context.Background(), jobs.ImportArgs{ImportID: id}); err != nil {
		t.Fatal(err)
	}
	st := b.do(t, "GET", path("/v1/imports/{id}", id), tok, nil)
	if st.body["status"] != "cancelled" || st.body["processed_rows"] != 2.0 || st.body["created"] != 2.0 || st.body["cancelled_at"] == nil {
		t.Errorf("cancelled import %v", st.body)
	}
	var members, cancelled, other int
	b.db.Get(&members, `SELECT count(*) FROM memberships WHERE account_id = $1`, acc)
	b.db.Get(&cancelled, `SELECT count(*) FROM invitations WHERE import_id = $1 AND status = 'cancelled'`, id)
	b.db.Get(&other, `SELECT count(*) FROM invitations WHERE import_id = $1 AND status <> 'cancelled'`, id)
	if members != 2 || cancelled != 2 || other != 0 {
		t.Errorf("%d memberships, %d emails cancelled, %d others; want 2, 2, 0", members, cancelled, other)
	}
	// Run again (a redelivered task): nothing more is written.
	if err := imp.Process(context.Background(), jobs.ImportArgs{ImportID: id}); err != nil {
		t.Fatal(err)
	}
	b.db.Get(&members, `SELECT count(*) FROM memberships WHERE account_id = $1`, acc)
	if members != 2 || batches != 1 {
		t.Errorf("after a redelivery: %d memberships, %d batches", members, batches)
	}
	if res := b.do(t, "POST", path("/v1/imports/{id}/cancel", id), tok, nil); res.status != http.StatusConflict || res.code() != "import_finished" {
		t.Errorf("cancel twice: %d %v", res.status, res.body)
	}
}

// An .xls from LibreOffice imports through the API like an .xlsx.
func TestImportXLS(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acc, tok := b.client(t, "Acme", "owner@acme.test")
	data, err := os.ReadFile("../workbook/testdata/template.xls")
	if err != nil {
		t.Fatal(err)
	}
	res := b.uploadFile(t, acc, tok, "template.xls", data)
	if res.status != http.StatusAccepted || res.body["import"].(map[string]any)["format"] != "xls" {
		t.Fatalf("upload: %d %v", res.status, res.body)
	}
	b.runImport(t, idOf(res), nil)
	st := b.do(t, "GET", path("/v1/imports/{id}", idOf(res)), tok, nil)
	for k, v := range map[string]float64{"created": 3, "skipped": 1, "failed": 1, "header_row": 3, "ignored_count": 3} {
		if st.body[k] != v {
			t.Errorf("%s = %v, want %v (%v)", k, st.body[k], v, st.body)
		}
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/muster-dev/muster/internal/postgres/pgtest"
	"github.com/muster-dev/muster/internal/proctest"
	"github.com/muster-dev/muster/internal/redistest"
)

// BenchmarkHostileFiles uploads files made to exhaust memory to a real
// `muster web` and a real `muster worker` (the binary, built first), each
// case in fresh processes, and reports each process's peak RSS (VmHWM)
// and the size of the import's status document. The baseline is the same
// for an ordinary 10k-row client workbook, in the same run.
//
//	go test ./cmd/muster -run '^$' -bench HostileFiles -benchtime 1x -count 3
func BenchmarkHostileFiles(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "muster")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	files := []struct{ name, path string }{
		{"baseline-10k-rows", clientWorkbook(b, dir, 10_000)},
		{"million-column-csv", write(b, dir, "wide.csv", []byte("email"+strings.Repeat(";x", 1_000_000)+"\na@b.test\n"))},
		{"50MiB-line-csv", write(b, dir, "line.csv", append([]byte("email;"), bytes.Repeat([]byte("a"), 50<<20)...))},
		{"16k-column-sheet", wideSheet(b, dir)},
	}
	for _, f := range files {
		b.Run(f.name, func(b *testing.B) {
			var web, worker, status float64
			for range b.N {
				w, k, s := hostileOnce(b, bin, f.path)
				web, worker, status = max(web, w), max(worker, k), max(status, s)
			}
			b.ReportMetric(web, "web-peak-RSS-MB")
			b.ReportMetric(worker, "worker-peak-RSS-MB")
			b.ReportMetric(status, "status-bytes")
		})
	}
}

// hostileOnce runs web and worker, uploads path, waits for the import to
// finish, and returns both peaks in MB and the status document's size.
func hostileOnce(b *testing.B, bin, path string) (web, worker, status float64) {
	b.Helper()
	addr := freeAddr(b)
	vars := map[string]string{
		"DATABASE_URL": pgtest.NewURL(b), "REDIS_URL": redistest.New(b).URL, "HTTP_ADDR": addr,
		"LOG_LEVEL": "error", "MAIL_DIR": b.TempDir(), "POLL_INTERVAL": "20ms", "IMPORT_MAX_BYTES": "64MiB",
	}
	if err := run(b.Context(), []string{"migrate"}, env(vars), io.Discard, io.Discard); err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(b.Context(), []string{"token", "create", "--staff"}, env(vars), &out, io.Discard); err != nil {
		b.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	procs := map[string]*exec.Cmd{}
	for _, role := range []string{"web", "worker"} {
		cmd := exec.Command(bin, role)
		for k, v := range vars {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		procs[role] = cmd
	}
	defer func() {
		for _, cmd := range procs {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}()
	base := "http://" + addr
	waitReady(b, base+"/readyz")
	res := post(b, base+"/v1/clients", tok, `{"name":"Bench","owner_email":"owner@bench.test"}`)
	acc := int64(res["account"].(map[string]any)["id"].(float64))

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("file", filepath.Base(path))
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	w.Write(data)
	mw.Close()
	data = nil
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/v1/accounts/%d/imports", base, acc), &body)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	up, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	var accepted struct{ ID int64 }
	json.NewDecoder(up.Body).Decode(&accepted)
	up.Body.Close()
	if up.StatusCode != http.StatusAccepted {
		b.Fatalf("upload %s: %d", path, up.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/imports/%d", base, accepted.ID), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		doc, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var st struct {
			Status    string `json:"status"`
			ErrorCode string `json:"error_code"`
		}
		json.Unmarshal(doc, &st)
		if st.Status == "done" || st.Status == "rejected" {
			status = float64(len(doc))
			b.Logf("%s: %s %s, status document %d bytes", filepath.Base(path), st.Status, st.ErrorCode, len(doc))
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("import %d still %s", accepted.ID, st.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return vmHWM(b, procs["web"].Process.Pid), vmHWM(b, procs["worker"].Process.Pid), status
}

// vmHWM is a live process's peak resident set in MB.
func vmHWM(b *testing.B, pid int) float64 {
	b.Helper()
	peak, err := proctest.PeakRSS(pid)
	if err != nil {
		b.Fatal(err)
	}
	return peak
}

func write(b *testing.B, dir, name string, data []byte) string {
	b.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// clientWorkbook writes n rows as clients fill the template.
func clientWorkbook(b *testing.B, dir string, n int) string {
	b.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sw, _ := f.NewStreamWriter("Sheet1")
	sw.SetRow("A1", []any{"Электронная почта", "ФИО", "Телефон", "Комментарий", "Язык", "Город"})
	for i := range n {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		sw.SetRow(cell, []any{fmt.Sprintf("c%06d@example.com", i), fmt.Sprintf("Иванова Анна %d", i), "8 916 123 45 67", "Figma, UI kits", "ru", "Москва"})
	}
	if err := sw.Flush(); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "client.xlsx")
	if err := f.SaveAs(path); err != nil {
		b.Fatal(err)
	}
	return path
}

// wideSheet writes a sheet of 16,384 columns (Excel's most): a header of
// Email and 16,383 more, and 50 rows filling every column.
func wideSheet(b *testing.B, dir string) string {
	b.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sw, _ := f.NewStreamWriter("Sheet1")
	row := make([]any, 16384)
	row[0] = "Email"
	for i := 1; i < len(row); i++ {
		row[i] = "column " + strconv.Itoa(i)
	}
	sw.SetRow("A1", row)
	for r := 2; r <= 51; r++ {
		row[0] = fmt.Sprintf("c%d@example.com", r)
		for i := 1; i < len(row); i++ {
			row[i] = i * r
		}
		sw.SetRow("A"+strconv.Itoa(r), row)
	}
	if err := sw.Flush(); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "wide.xlsx")
	if err := f.SaveAs(path); err != nil {
		b.Fatal(err)
	}
	return path
}

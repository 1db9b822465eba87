package jobs_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/xuri/excelize/v2"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/postgres"
	"github.com/muster-dev/muster/internal/postgres/pgtest"
	"github.com/muster-dev/muster/internal/redistest"
	"github.com/muster-dev/muster/internal/workbook"
	"github.com/muster-dev/muster/jobs"
)

// BenchmarkImport measures, for generated workbooks of 1k, 10k and 100k
// rows, in the same run:
//
//   - raw: excelize opening the file and streaming every row with Rows()
//     and Columns(), nothing else (the baseline);
//   - import: from the moment the upload is stored and its task queued
//     (what the API's 202 means) to the moment every row is committed in
//     PostgreSQL and every invitation is enqueued in Redis, running the
//     import job's handler as a worker does;
//   - the peak Go heap while the import runs (sampled every 2 ms), with the
//     heap before it.
//
// It prints one table per run:
//
//	go test ./jobs -run '^$' -bench Import -benchtime 1x -count 5
func BenchmarkImport(b *testing.B) {
	sizes := []int{1_000, 10_000, 100_000}
	dir := b.TempDir()
	type result struct{ raw, imp, heap, base float64 }
	for _, shape := range []string{"client", "lean"} {
		results := map[int]result{}
		for _, n := range sizes {
			file := generate(b, dir, n, shape)
			b.Run(fmt.Sprintf("shape=%s/rows=%d", shape, n), func(b *testing.B) {
				var raw, imp, peak, base float64
				for range b.N {
					r, i, p, bs := benchOnce(b, file, n)
					raw, imp, peak, base = raw+r, imp+i, max(peak, p), bs
				}
				raw, imp = raw/float64(b.N), imp/float64(b.N)
				b.ReportMetric(imp, "import-rows/s")
				b.ReportMetric(raw, "raw-rows/s")
				b.ReportMetric(imp/raw, "ratio")
				b.ReportMetric(peak/(1<<20), "peak-heap-MB")
				results[n] = result{raw, imp, peak, base}
			})
		}
		if len(results) != len(sizes) {
			continue
		}
		fmt.Printf("\n%s rows\n| rows | raw Rows() rows/s | import rows/s | import / raw | peak heap MB (before) |\n|---|---|---|---|---|\n", shape)
		for _, n := range sizes {
			r := results[n]
			fmt.Printf("| %d | %.0f | %.0f | %.2f× | %.1f (%.1f) |\n", n, r.raw, r.imp, r.imp/r.raw, r.heap/(1<<20), r.base/(1<<20))
		}
		fmt.Printf("| 100k heap / 10k heap | | | | %.2f× |\n\n", results[100_000].heap/results[10_000].heap)
	}
}

// generate writes a workbook of n contractors. The "client" shape is what
// client exports look like: a title row, then the template's columns with
// a full name, a phone typed with spaces, a sentence of notes, a manager on
// every tenth row, a language, and two columns Muster ignores. The "lean"
// shape has five short columns and reads much faster, so the fixed cost of
// writing a row weighs more against it.
func generate(b *testing.B, dir string, n int, shape string) string {
	b.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		b.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(sw.SetRow("A1", []any{"Список исполнителей"}))
	header := []any{"Электронная почта", "ФИО", "Телефон", "Комментарий", "Язык"}
	if shape == "client" {
		header = []any{"Электронная почта", "ФИО", "Телефон", "Комментарий", "Менеджер", "Язык", "Город", "Табельный номер"}
	}
	must(sw.SetRow("A2", header))
	row := make([]any, len(header))
	for i := range n {
		email := fmt.Sprintf("contractor%06d@example.com", i)
		phone := fmt.Sprintf("8 916 %03d %02d %02d", i/10000%1000, i/100%100, i%100)
		lang := []string{"ru", "en"}[i%2]
		if shape == "client" {
			manager := ""
			if i%10 == 0 {
				manager = "owner@bench.test"
			}
			row = []any{email, fmt.Sprintf("Иванова-Петрова Анна Сергеевна %d", i), phone,
				"Figma, UI kits, дизайн-системы; опыт 5 лет, ставка 2500 ₽/час", manager, lang, "Санкт-Петербург", fmt.Sprintf("T-%06d", i)}
		} else {
			row = []any{email, fmt.Sprintf("Исполнитель Номер %d", i), phone, "Figma, UI kits", lang}
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+3)
		must(sw.SetRow(cell, row))
	}
	must(sw.Flush())
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.xlsx", shape, n))
	must(f.SaveAs(path))
	return path
}

// benchOnce returns raw and import rows/s, the peak heap during the import
// and the heap before it.
func benchOnce(b *testing.B, path string, n int) (raw, imp, peak, base float64) {
	b.Helper()
	b.StopTimer()
	// The baseline: excelize alone, with the options the importer uses.
	runtime.GC()
	start := time.Now()
	got := rawRead(b, path)
	raw = float64(got) / time.Since(start).Seconds()
	if got < n {
		b.Fatalf("raw read %d rows of %d", got, n)
	}

	ctx := context.Background()
	db, rdb, im, importer := stored(b, path, false)

	runtime.GC()
	base = heapNow()
	var peakBits atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			if h := uint64(heapNow()); h > peakBits.Load() {
				peakBits.Store(h)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	b.StartTimer()
	start = time.Now()
	if err := importer.Process(ctx, jobs.ImportArgs{ImportID: im.ID}); err != nil {
		b.Fatal(err)
	}
	imp = float64(n) / time.Since(start).Seconds()
	b.StopTimer()
	close(stop)
	wg.Wait()
	peak = float64(peakBits.Load())

	done, err := db.FindImport(ctx, im.ID)
	if err != nil || done.Status != muster.ImportDone || done.Created != n {
		b.Fatalf("import ended %+v, %v", done, err)
	}
	// Each batch of rows queues its send tasks, which cover every email.
	var batches int64
	if err := db.GetContext(ctx, &batches, `SELECT count(DISTINCT import_batch) FROM invitations WHERE import_id = $1`, im.ID); err != nil {
		b.Fatal(err)
	}
	pending, err := rdb.Client.LLen(ctx, "asynq:{"+jobs.QueueBulk+"}:pending").Result()
	if err != nil || pending != batches*jobs.SendTasksPerBatch || done.Created != n {
		b.Fatalf("%d send tasks enqueued for %d batches of %d (%v)", pending, batches, jobs.SendTasksPerBatch, err)
	}
	return raw, imp, peak, base
}

func rawRead(b *testing.B, path string) int {
	b.Helper()
	f, err := excelize.OpenFile(path, excelize.Options{UnzipXMLSizeLimit: 1 << 20, TmpDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rows, err := f.Rows(f.GetSheetList()[0])
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for rows.Next() {
		if _, err := rows.Columns(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := rows.Close(); err != nil {
		b.Fatal(err)
	}
	return n - 2 // the title and the header
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

// heapNow is the heap occupied by objects, live or not yet swept; reading
// it does not stop the world.
func heapNow() float64 {
	metrics.Read(heapSample)
	return float64(heapSample[0].Value.Uint64())
}

// BenchmarkPreview measures a preview (dry run) of a 100k-row client
// workbook next to the import of the same file, each in a fresh database,
// in the same run: seconds from the task's start to the preview's findings
// (or the last batch) being committed.
//
//	go test ./jobs -run '^$' -bench Preview -benchtime 1x -count 5
func BenchmarkPreview(b *testing.B) {
	const n = 100_000
	file := generate(b, b.TempDir(), n, "client")
	var preview, imp float64
	for range b.N {
		preview += timeImport(b, file, n, true)
		imp += timeImport(b, file, n, false)
	}
	preview, imp = preview/float64(b.N), imp/float64(b.N)
	b.ReportMetric(preview, "preview-s")
	b.ReportMetric(imp, "import-s")
	b.ReportMetric(preview/imp, "ratio")
}

// timeImport stores path as an import (or a preview) of a new account and
// returns how long the job takes.
func timeImport(b *testing.B, path string, n int, preview bool) float64 {
	b.Helper()
	b.StopTimer()
	ctx := context.Background()
	db, _, im, importer := stored(b, path, preview)
	runtime.GC()
	b.StartTimer()
	start := time.Now()
	if err := importer.Process(ctx, jobs.ImportArgs{ImportID: im.ID}); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start).Seconds()
	b.StopTimer()
	done, err := db.FindImport(ctx, im.ID)
	switch {
	case err != nil:
		b.Fatal(err)
	case preview && (done.Status != muster.ImportPreviewed || done.Preview.Counts[muster.RowCreated] != n):
		b.Fatalf("preview ended %+v", done)
	case !preview && (done.Status != muster.ImportDone || done.Created != n):
		b.Fatalf("import ended %+v", done)
	}
	return took
}

// stored makes a database with one account, stores path as an import (or
// a preview) of it, and returns the importer that runs it.
func stored(b *testing.B, path string, preview bool) (*postgres.DB, *redistest.DB, *muster.Import, *jobs.Importer) {
	b.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.NewURL(b), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	rdb := redistest.New(b)
	queue := jobs.NewEnqueuer(asynq.NewClientFromRedisClient(rdb.Client), 3)
	_, acc, err := db.CreateClient(ctx, muster.ClientDraft{Name: "Bench", OwnerEmail: "owner@bench.test", OwnerLocale: muster.Russian, AccountName: "Bench"})
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(data)
	im, _, err := db.CreateImport(ctx, muster.Upload{AccountID: acc.ID, FileName: filepath.Base(path), Format: workbook.XLSX,
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Preview: preview}, strings.NewReader(string(data)))
	if err != nil {
		b.Fatal(err)
	}
	return db, rdb, im, &jobs.Importer{Store: db, Queue: queue, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

package workbook_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/muster-dev/muster/internal/proctest"
	"github.com/muster-dev/muster/internal/workbook"
)

// childEnv makes the test binary a child that reads one file and reports,
// so that each read's peak RSS is its own process's.
const childEnv = "MUSTER_WORKBOOK_READ"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(readChild(path))
	}
	os.Exit(m.Run())
}

// readChild reads every row of path as an import does and prints the row
// count and the seconds it took.
func readChild(path string) int {
	start := time.Now()
	r, err := workbook.Open(path, filepath.Base(path), workbook.Limits{}, "", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer r.Close()
	for r.Next() {
	}
	if err := r.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	peak, err := proctest.PeakRSS(0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(map[string]float64{"rows": float64(r.Rows()), "seconds": time.Since(start).Seconds(), "peak_mb": peak})
	return 0
}

// BenchmarkXLS reads client workbooks of 10k and 65k rows (the most an
// .xls holds is 65,536) saved by LibreOffice as .xls, next to the .xlsx
// they were made from, in the same run: rows per second through
// workbook.Reader (header detection and normalization included) and the
// peak RSS of the process that reads, each read in its own process.
//
//	go test ./internal/workbook -run '^$' -bench XLS -benchtime 1x -count 5
//
// It needs LibreOffice (soffice) to write the .xls files, which are kept
// in $TMPDIR/muster-bench-xls between runs.
func BenchmarkXLS(b *testing.B) {
	dir := filepath.Join(os.TempDir(), "muster-bench-xls")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10_000, 65_000} {
		xlsx, xls := benchFiles(b, dir, n)
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			var rates, rss [2][]float64
			for range b.N {
				for i, path := range []string{xlsx, xls} {
					rate, peak := readInChild(b, path, n)
					rates[i], rss[i] = append(rates[i], rate), append(rss[i], peak)
				}
			}
			b.ReportMetric(median(rates[0]), "xlsx-rows/s")
			b.ReportMetric(median(rates[1]), "xls-rows/s")
			b.ReportMetric(median(rss[0]), "xlsx-peak-RSS-MB")
			b.ReportMetric(median(rss[1]), "xls-peak-RSS-MB")
			b.ReportMetric(median(rates[1])/median(rates[0]), "xls/xlsx-rate")
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// readInChild reads path in a child process and returns rows/s and its
// peak RSS in MB.
func readInChild(b *testing.B, path string, n int) (float64, float64) {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("read %s: %v", path, err)
	}
	var res struct {
		Rows, Seconds float64
		Peak          float64 `json:"peak_mb"`
	}
	if err := json.Unmarshal(out, &res); err != nil || int(res.Rows) != n || res.Peak == 0 {
		b.Fatalf("read %s: %s (%v)", path, out, err)
	}
	return res.Rows / res.Seconds, res.Peak
}

// benchFiles writes a client workbook of n rows (the import benchmark's
// shape: a title, eight columns, Russian text) and its .xls twin.
func benchFiles(b *testing.B, dir string, n int) (xlsx, xls string) {
	b.Helper()
	xlsx = filepath.Join(dir, fmt.Sprintf("client-%d.xlsx", n))
	xls = filepath.Join(dir, fmt.Sprintf("client-%d.xls", n))
	if _, err := os.Stat(xls); err == nil {
		return xlsx, xls
	}
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		b.Fatal(err)
	}
	must(b, sw.SetRow("A1", []any{"Список исполнителей"}))
	must(b, sw.SetRow("A2", []any{"Электронная почта", "ФИО", "Телефон", "Комментарий", "Менеджер", "Язык", "Город", "Табельный номер"}))
	for i := range n {
		manager := ""
		if i%10 == 0 {
			manager = "owner@bench.test"
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+3)
		must(b, sw.SetRow(cell, []any{fmt.Sprintf("contractor%06d@example.com", i), fmt.Sprintf("Иванова-Петрова Анна Сергеевна %d", i),
			fmt.Sprintf("8 916 %03d %02d %02d", i/10000%1000, i/100%100, i%100), "Figma, UI kits, дизайн-системы; опыт 5 лет, ставка 2500 ₽/час",
			manager, []string{"ru", "en"}[i%2], "Санкт-Петербург", fmt.Sprintf("T-%06d", i)}))
	}
	must(b, sw.Flush())
	must(b, f.SaveAs(xlsx))
	if _, err := exec.LookPath("soffice"); err != nil {
		b.Fatal("BenchmarkXLS needs LibreOffice to write .xls files: apt-get install --no-install-recommends libreoffice-calc")
	}
	out, err := exec.Command("soffice", "--headless", "--calc", "--convert-to", "xls:MS Excel 97", "--outdir", dir, xlsx).CombinedOutput()
	if err != nil {
		b.Fatalf("soffice: %v\n%s", err, out)
	}
	return xlsx, xls
}

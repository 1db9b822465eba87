package workbook

import (
	"fmt"
	"strings"
	"testing"
)

// Tags straddle the reads of a large sheet; every one is counted once and
// the last row number is found, with or without a namespace prefix.
func TestScanRowTags(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "x:"} {
		var b strings.Builder
		b.WriteString(`<worksheet><sheetData>`)
		for i := 3; i <= 50_002; i++ {
			fmt.Fprintf(&b, `<%srow r="%d" spans="1:3"><%sc r="A%d" t="inlineStr"><%sis><%st>row %d</%st></%sis></%sc></%srow>`,
				prefix, i, prefix, i, prefix, prefix, i, prefix, prefix, prefix, prefix)
		}
		b.WriteString(`</sheetData><rowBreaks count="0"/></worksheet>`)
		sc, err := scanRowTags(strings.NewReader(b.String()))
		if err != nil || sc.count != 50_000 || sc.last != 50_002 {
			t.Errorf("prefix %q: count %d, last %d, %v", prefix, sc.count, sc.last, err)
		}
	}
}

// The widest row is measured across reads and named by its number. Not
// parallel: TestDecompressionBombs counts the bytes allocated meanwhile.
func TestScanRowTagsWidestRow(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<worksheet><sheetData>`)
	wide := `<row r="7"><c r="A7" t="inlineStr"><is><t>` + strings.Repeat("я", 300_000) + `</t></is></c></row>`
	for i := 1; i <= 10; i++ {
		if i == 7 {
			b.WriteString(wide)
			continue
		}
		fmt.Fprintf(&b, `<row r="%d"><c r="A%d"><v>%d</v></c></row>`, i, i, i)
	}
	b.WriteString(`</sheetData></worksheet>`)
	sc, err := scanRowTags(strings.NewReader(b.String()))
	if err != nil || sc.widestRow != 7 || sc.widest != int64(len(wide)) || sc.count != 10 {
		t.Errorf("widest row %d of %d bytes (want 7, %d), %d rows, %v", sc.widestRow, sc.widest, len(wide), sc.count, err)
	}
}

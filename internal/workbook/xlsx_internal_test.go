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
		count, last, err := scanRowTags(strings.NewReader(b.String()))
		if err != nil || count != 50_000 || last != 50_002 {
			t.Errorf("prefix %q: count %d, last %d, %v", prefix, count, last, err)
		}
	}
}

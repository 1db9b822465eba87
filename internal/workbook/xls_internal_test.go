package workbook

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"
)

// The shared-string table across blocks and CONTINUE records: 8-bit and
// 16-bit strings, one cut mid-string with the width restated, a surrogate
// pair, empty strings, and more than a block of text.
func TestSharedStringsAcrossBlocksAndContinue(t *testing.T) {
	var want []string
	for i := range 40_000 {
		want = append(want, fmt.Sprintf("Исполнитель № %d — 😀 %s", i, strings.Repeat("x", i%7)), "", fmt.Sprintf("plain %d", i))
	}
	// Encode as BIFF8: SST header, then each string (cch, flags, chars),
	// cut into records of at most 8224 bytes, each continuation of a
	// string's characters starting with its width flag.
	var chunks [][]byte
	cur := binary.LittleEndian.AppendUint32(nil, uint32(len(want)))
	cur = binary.LittleEndian.AppendUint32(cur, uint32(len(want)))
	flush := func() { chunks = append(chunks, cur); cur = nil }
	for _, s := range want {
		u := utf16.Encode([]rune(s))
		wide := strings.IndexFunc(s, func(r rune) bool { return r > 0xFF }) >= 0
		if len(cur)+3 > maxRecord {
			flush()
		}
		cur = binary.LittleEndian.AppendUint16(cur, uint16(len(u)))
		flag := byte(0)
		if wide {
			flag = 1
		}
		cur = append(cur, flag)
		for _, c := range u {
			size := 1
			if wide {
				size = 2
			}
			if len(cur)+size > maxRecord {
				flush()
				cur = append(cur, flag)
			}
			if wide {
				cur = binary.LittleEndian.AppendUint16(cur, c)
			} else {
				cur = append(cur, byte(c))
			}
		}
	}
	flush()
	sst, err := readSST(&cursor{chunks: chunks})
	if err != nil {
		t.Fatal(err)
	}
	if sst.len() != len(want) || len(sst.blocks) < 2 {
		t.Fatalf("%d strings in %d blocks, want %d in several", sst.len(), len(sst.blocks), len(want))
	}
	for i, w := range want {
		if got := sst.get(i); got != w {
			t.Fatalf("string %d: %q, want %q", i, got, w)
		}
	}
}

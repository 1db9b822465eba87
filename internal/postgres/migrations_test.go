package postgres_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// migrationName is how a migration file is named: five digits, a name.
var migrationName = regexp.MustCompile(`^(\d{5})_[a-z0-9_]+\.sql$`)

// Migrations are append-only. migrations.sha256 lists every shipped
// migration with its SHA-256, in the format of `sha256sum`. The test
// fails when a listed migration changed, when a file is not listed (or a
// listed one is gone), and when the numbering has a gap or a repeat.
func TestMigrationsAreAppendOnly(t *testing.T) {
	const list = "migrations.sha256"
	listed := map[string]string{}
	f, err := os.Open(list)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		sum, name, ok := strings.Cut(strings.TrimSpace(sc.Text()), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("%s:%d: want \"<sha256>  <file>\" as sha256sum writes it, got %q", list, line, sc.Text())
		}
		listed[name] = sum
	}
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for i, path := range files { // Glob sorts them
		name := filepath.Base(path)
		m := migrationName.FindStringSubmatch(name)
		if m == nil {
			t.Errorf("migrations/%s: name it NNNNN_what.sql (five digits, lower case)", name)
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n != i+1 {
			t.Errorf("migrations/%s is number %d, but it is file %d in order: number migrations 00001, 00002, … without a gap or a repeat; "+
				"renumber your unlanded migration to follow main's highest", name, n, i+1)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		got := hex.EncodeToString(sum[:])
		want, ok := listed[name]
		delete(listed, name)
		switch {
		case !ok:
			t.Errorf("migrations/%s is not in %s: append this line to it:\n%s  %s", name, list, got, name)
		case want != got:
			t.Errorf("migrations/%s changed, but %s says it shipped: a migration that landed on main is never edited; "+
				"undo the edit and write the change as a new migration. (Only if this migration has not landed on main yet, "+
				"update its line to:\n%s  %s)", name, list, got, name)
		}
	}
	for name := range listed {
		t.Errorf("%s lists %s, which is not in migrations/: a shipped migration is never removed", list, name)
	}
}

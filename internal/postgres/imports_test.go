package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/postgres"
)

func newImport(t *testing.T, db *postgres.DB, accountID int64, sha string) *muster.Import {
	t.Helper()
	im, existing, err := db.CreateImport(context.Background(), muster.Upload{AccountID: accountID, FileName: "f.csv", Format: "csv", Size: 3, SHA256: sha}, strings.NewReader("abc"))
	if err != nil || existing {
		t.Fatalf("%v existing=%v", err, existing)
	}
	if _, _, err := db.StartImport(context.Background(), im.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	return im
}

func batch(im *muster.Import, after int, emails ...string) *muster.ImportBatch {
	b := &muster.ImportBatch{ImportID: im.ID, AccountID: im.AccountID, After: after, Through: after + len(emails)}
	for i, e := range emails {
		b.Rows = append(b.Rows, muster.ImportRow{Line: after + i + 1, Email: e, Locale: muster.Russian})
	}
	return b
}

// A batch commits only on top of the checkpoint it was built from, so two
// workers on one import never write a row twice.
func TestBatchCommitsOnceOnItsCheckpoint(t *testing.T) {
	t.Parallel()
	db, acc := setup(t)
	ctx := context.Background()
	im := newImport(t, db, acc.ID, "one")
	res, err := db.WriteImportBatch(ctx, batch(im, 0, "a@x.test", "b@x.test"))
	if err != nil || res.Created != 2 || len(res.Invitations) != 2 || res.Import.ProcessedRows != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := db.WriteImportBatch(ctx, batch(im, 0, "a@x.test", "b@x.test")); !errors.Is(err, muster.ErrStaleBatch) {
		t.Fatalf("the same batch again: %v", err)
	}
	var buf strings.Builder
	if err := db.ReadImportFile(ctx, im.ID, &buf); err != nil || buf.String() != "abc" {
		t.Fatalf("stored file %q, %v", buf.String(), err)
	}
}

// Two imports into two accounts that share contractors run at once
// without deadlocks, and every contractor exists once.
func TestConcurrentImportsShareContractors(t *testing.T) {
	t.Parallel()
	db, acc := setup(t)
	ctx := context.Background()
	other, err := db.CreateAccount(ctx, acc.ClientID, "Other", nil)
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for i := range 300 {
		emails = append(emails, fmt.Sprintf("shared%03d@x.test", i))
	}
	reversed := make([]string, len(emails))
	for i, e := range emails {
		reversed[len(emails)-1-i] = e
	}
	var wg sync.WaitGroup
	for i, list := range [][]string{emails, reversed} {
		account := []int64{acc.ID, other.ID}[i]
		im := newImport(t, db, account, fmt.Sprint("sha", i))
		wg.Go(func() {
			after := 0
			for chunk := range 3 {
				if _, err := db.WriteImportBatch(ctx, batch(im, after, list[chunk*100:chunk*100+100]...)); err != nil {
					t.Error(err)
					return
				}
				after += 100
			}
		})
	}
	wg.Wait()
	var contractors, memberships int
	db.Get(&contractors, `SELECT count(*) FROM contractors`)
	db.Get(&memberships, `SELECT count(*) FROM memberships`)
	if contractors != 300 || memberships != 600 {
		t.Fatalf("%d contractors, %d memberships; want 300 and 600", contractors, memberships)
	}
}

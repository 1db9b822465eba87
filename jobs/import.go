package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/workbook"
)

const (
	// importLease is how long an import may go without a heartbeat before
	// another worker may take it over.
	importLease = time.Minute
	// defaultBatch is Importer.BatchSize's default.
	defaultBatch = 2000
)

// ImportStore is what importing needs from the database.
type ImportStore interface {
	StartImport(ctx context.Context, id int64, lease time.Duration) (*muster.Import, int, error)
	Heartbeat(ctx context.Context, id int64) error
	ReleaseImport(ctx context.Context, id int64) error
	ReadImportFile(ctx context.Context, id int64, w io.Writer) error
	SetImportHeader(ctx context.Context, id int64, sheet string, line int, header, ignored []string, total int) error
	AccountManagers(ctx context.Context, accountID int64) (map[string]int64, error)
	UnsentBatches(ctx context.Context, id int64) ([]int, error)
	WriteImportBatch(ctx context.Context, b *muster.ImportBatch) (*muster.BatchResult, error)
	FinishImport(ctx context.Context, id int64, total int, code, message string) error
}

// SendQueue hands an import's emails to the queue.
type SendQueue interface {
	ImportBatch(ctx context.Context, importID int64, batch int) error
}

// Importer is the handler of TypeImport. It runs a pipeline: one goroutine
// reads and validates rows and cuts them into batches, another writes each
// batch in one transaction with the import's checkpoint and hands the
// batch's emails to the bulk queue as one task. Reading never waits for
// the database or Redis, and Redis holds one task per batch, not one per
// row.
//
// A worker killed mid-import loses nothing and repeats nothing: the next
// attempt reads the file again, commits only rows after the checkpoint,
// and re-enqueues the batches whose emails are still queued (task ids make
// that a no-op for those Redis holds).
type Importer struct {
	Store     ImportStore
	Queue     SendQueue
	Limits    workbook.Limits
	TmpDir    string // "" for the system default
	BatchSize int    // rows per transaction (and emails per send task); default 2000
	Log       *slog.Logger
	// OnBatch, when set, is called after each committed batch. Tests use
	// it to watch progress and to stop a worker between batches.
	OnBatch func(res *muster.BatchResult)
}

// Process imports one file.
func (im *Importer) Process(ctx context.Context, args ImportArgs) error {
	imp, checkpoint, err := im.Store.StartImport(ctx, args.ImportID, importLease)
	if stop, res := claimed(err, "import", args.ImportID); stop {
		return res
	}
	err = im.run(ctx, imp, checkpoint)
	if err != nil && !errors.Is(err, muster.ErrStaleBatch) {
		// Stopped (shutdown, an outage): let the next attempt start at once
		// instead of waiting for the lease. A worker that dies cannot do
		// this; then the lease runs out.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := im.Store.ReleaseImport(rctx, imp.ID); rerr != nil {
			im.Log.Warn("release import", "import", imp.ID, "error", rerr)
		}
	}
	if errors.Is(err, muster.ErrStaleBatch) {
		im.Log.Warn("import taken over by another worker", "import", imp.ID)
		return nil
	}
	if err != nil && lastAttempt(ctx) {
		// Given up: the rows committed so far stay, and the import says why.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if ferr := im.Store.FinishImport(fctx, imp.ID, -1, "import_failed",
			"the import stopped after its last attempt: "+err.Error()+". The rows before it were imported; upload the file again to go on."); ferr != nil {
			return errors.Join(err, ferr)
		}
	}
	return err
}

func (im *Importer) run(ctx context.Context, imp *muster.Import, checkpoint int) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go im.heartbeat(ctx, imp.ID)

	dir, err := os.MkdirTemp(im.TmpDir, "muster-import-")
	if err != nil {
		return fmt.Errorf("import %d: %w", imp.ID, err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "upload")
	if err := im.download(ctx, imp.ID, path); err != nil {
		return err
	}
	r, err := workbook.Open(path, imp.FileName, im.Limits, dir)
	if e := muster.AsError(err); e != nil {
		im.Log.Info("import rejected", "import", imp.ID, "code", e.Code, "reason", e.Message)
		return im.Store.FinishImport(ctx, imp.ID, -1, e.Code, e.Message)
	}
	if err != nil {
		return fmt.Errorf("import %d: %w", imp.ID, err)
	}
	defer r.Close()
	h := r.Header
	if err := im.Store.SetImportHeader(ctx, imp.ID, h.Sheet, h.Line, h.Cells, h.Ignored, r.Estimate); err != nil {
		return err
	}
	managers, err := im.Store.AccountManagers(ctx, imp.AccountID)
	if err != nil {
		return err
	}
	unsent, err := im.Store.UnsentBatches(ctx, imp.ID)
	if err != nil {
		return err
	}
	run := &importRun{Importer: im, imp: imp, r: r, managers: managers, checkpoint: checkpoint}
	rejected, err := run.pipeline(ctx, unsent)
	if err != nil {
		return fmt.Errorf("import %d: %w", imp.ID, err)
	}
	if rejected != nil {
		// Cut short mid-file: the rows before the limit are committed.
		return im.Store.FinishImport(ctx, imp.ID, r.Rows()-1, rejected.Code, rejected.Message+" The rows before the limit were imported.")
	}
	im.Log.Info("import done", "import", imp.ID, "rows", r.Rows())
	return im.Store.FinishImport(ctx, imp.ID, r.Rows(), "", "")
}

func (im *Importer) download(ctx context.Context, id int64, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("import %d: %w", id, err)
	}
	err = im.Store.ReadImportFile(ctx, id, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (im *Importer) heartbeat(ctx context.Context, id int64) {
	t := time.NewTicker(importLease / 6)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := im.Store.Heartbeat(ctx, id); err != nil && ctx.Err() == nil {
				im.Log.Warn("import heartbeat failed", "import", id, "error", err)
			}
		}
	}
}

// importRun is one attempt at one import.
type importRun struct {
	*Importer
	imp        *muster.Import
	r          *workbook.Reader
	managers   map[string]int64
	checkpoint int
	seen       map[string]struct{} // emails of the batch being built
}

// pipeline reads and writes concurrently, and queues each written batch's
// emails as one task. It returns the reason the file was cut short (more
// rows than allowed), if it was.
func (run *importRun) pipeline(ctx context.Context, unsent []int) (*muster.Error, error) {
	size := orDefault(run.BatchSize, defaultBatch)
	batches := make(chan *muster.ImportBatch, 2)
	var rejected *muster.Error
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		var err error
		rejected, err = run.read(gctx, size, batches)
		return err
	})
	g.Go(func() error {
		for _, batch := range unsent {
			run.enqueue(gctx, batch)
		}
		for b := range batches {
			res, err := run.Store.WriteImportBatch(gctx, b)
			if err != nil {
				return err
			}
			if len(res.Invitations) > 0 {
				run.enqueue(gctx, b.Through)
			}
			if run.OnBatch != nil {
				run.OnBatch(res)
			}
		}
		return nil
	})
	err := g.Wait()
	return rejected, err
}

// enqueue hands a batch's emails to the bulk queue. A failure is not the
// import's: the rows are committed, and the requeue sweep hands the emails
// over later.
func (run *importRun) enqueue(ctx context.Context, batch int) {
	if err := run.Queue.ImportBatch(ctx, run.imp.ID, batch); err != nil && ctx.Err() == nil {
		run.Log.Warn("enqueue failed; the requeue sweep will retry", "import", run.imp.ID, "batch", batch, "error", err)
	}
}

// read turns rows into batches, skipping the rows up to the checkpoint,
// which an earlier attempt committed.
func (run *importRun) read(ctx context.Context, size int, out chan<- *muster.ImportBatch) (*muster.Error, error) {
	run.seen = make(map[string]struct{}, size)
	b := run.newBatch(run.checkpoint)
	send := func() error {
		select {
		case out <- b:
			b = run.newBatch(b.Through)
			clear(run.seen)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for run.r.Next() {
		row := run.r.Row()
		if row.Line <= run.checkpoint {
			continue // committed by an earlier attempt
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch run.classify(&row) {
		case muster.RowFailed:
			b.Failed = append(b.Failed, muster.FailedRow{Line: row.Line, Raw: row.Raw, Errors: row.Errors})
		case muster.RowDuplicate:
			b.Duplicates++
		default:
			b.Rows = append(b.Rows, row.ImportRow)
		}
		b.Through = row.Line
		if b.Len() >= size {
			if err := send(); err != nil {
				return nil, err
			}
		}
	}
	err := run.r.Err()
	rejected := muster.AsError(err)
	if err != nil && rejected == nil {
		return nil, err
	}
	if b.Len() > 0 {
		if err := send(); err != nil {
			return nil, err
		}
	}
	return rejected, nil
}

func (run *importRun) newBatch(after int) *muster.ImportBatch {
	return &muster.ImportBatch{ImportID: run.imp.ID, AccountID: run.imp.AccountID, After: after, Through: after}
}

// classify decides a row's fate before it reaches the database: failed
// (its cells, or a manager that is not one), a duplicate of an earlier row
// of the batch, or to be written. A duplicate of a row in an earlier batch
// needs no memory here: its membership exists by then, so the database
// skips it as already a member. Memory stays flat however long the file,
// and a restarted import needs nothing from before its checkpoint.
func (run *importRun) classify(row *workbook.Row) string {
	if !row.Failed() {
		for _, m := range row.Managers {
			id, ok := run.managers[m]
			if !ok {
				row.Errors = append(row.Errors, muster.RowError{Line: row.Line, Column: run.managerColumn(), Code: "unknown_manager",
					Reason: fmt.Sprintf("%s is not a manager with access to this account", m)})
				continue
			}
			row.ManagerIDs = append(row.ManagerIDs, id)
		}
	}
	if row.Failed() {
		return muster.RowFailed
	}
	if _, dup := run.seen[row.Email]; dup {
		return muster.RowDuplicate
	}
	run.seen[row.Email] = struct{}{}
	return muster.RowCreated
}

func (run *importRun) managerColumn() string { return run.r.Header.ManagerColumn() }

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

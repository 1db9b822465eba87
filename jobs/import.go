package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/workbook"
)

const (
	// importLease is how long an import may go without a heartbeat before
	// another worker may take it over: the most a killed worker's import
	// waits. Heartbeats come every importLease/3, so two can be missed.
	importLease = 15 * time.Second
	// defaultBatch is Importer.BatchSize's default.
	defaultBatch = 2000
)

// ImportStore is what importing needs from the database.
type ImportStore interface {
	StartImport(ctx context.Context, id int64, lease time.Duration) (*muster.Import, int, error)
	Heartbeat(ctx context.Context, id int64) error
	ReleaseImport(ctx context.Context, id int64) error
	ReadImportFile(ctx context.Context, id int64, w io.Writer) error
	SetImportHeader(ctx context.Context, id int64, sheet string, line int, header, ignored []string, ignoredCount, total int) error
	AccountManagers(ctx context.Context, accountID int64) (map[string]int64, error)
	UnsentBatches(ctx context.Context, id int64) ([]int, error)
	WriteImportBatch(ctx context.Context, b *muster.ImportBatch) (*muster.BatchResult, error)
	FinishImport(ctx context.Context, id int64, total int, code, message string) error
	ClassifyEmails(ctx context.Context, accountID int64, emails []string) (map[string]string, error)
	FinishPreview(ctx context.Context, id int64, total int, p *muster.Preview) error
}

// RowStore is what writing an import's rows needs: the heavy part of an
// import, which the worker gives the bulk pool (Deps.BulkStore), while
// the import's few other statements go through its Store, so that a small
// import's bookkeeping does not queue behind a large import's batches.
type RowStore interface {
	WriteImportBatch(ctx context.Context, b *muster.ImportBatch) (*muster.BatchResult, error)
	ClassifyEmails(ctx context.Context, accountID int64, emails []string) (map[string]string, error)
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
	Rows      RowStore // nil: Store
	Queue     SendQueue
	Limits    workbook.Limits
	TmpDir    string // "" for the system default
	BatchSize int    // rows per transaction (and emails per send task); default 2000
	Log       *slog.Logger
	// OnBatch, when set, is called after each committed batch. Tests use
	// it to watch progress and to stop a worker between batches.
	OnBatch func(res *muster.BatchResult)
	// Slots caps the imports this process runs at once (nil: no cap).
	Slots   Slots
	Metrics Recorder // nil: nothing recorded
}

// NewImporter is the worker's Importer: IMPORT_CONCURRENCY imports at
// once, each file within the IMPORT_* limits.
func NewImporter(d *Deps) *Importer {
	return once(d, func() *Importer {
		c := d.Config
		return &Importer{
			Store: d.Store, Rows: d.bulkStore(), Queue: d.Queue, Log: d.Log, Slots: NewSlots(c.ImportConcurrency), Metrics: d.Metrics,
			Limits: workbook.Limits{MaxBytes: c.ImportMaxBytes, MaxRows: c.ImportMaxRows, MaxUnzipped: c.ImportMaxUnzipped},
		}
	})
}

func (im *Importer) rows() RowStore {
	if im.Rows == nil {
		return im.Store
	}
	return im.Rows
}

// Slots is a counting semaphore: NewSlots(n) lets n holders in at once.
type Slots chan struct{}

// NewSlots returns n slots.
func NewSlots(n int) Slots { return make(Slots, max(n, 1)) }

// errImportsBusy sends an import back to its queue, shortly and without
// counting an attempt, when the worker runs as many as it may.
var errImportsBusy = errors.New("this worker runs IMPORT_CONCURRENCY imports already; the import waits in its queue")

// Process imports one file.
func (im *Importer) Process(ctx context.Context, args ImportArgs) error {
	if im.Slots != nil {
		select {
		case im.Slots <- struct{}{}:
			defer func() { <-im.Slots }()
		default:
			return errImportsBusy
		}
	}
	imp, checkpoint, err := im.Store.StartImport(ctx, args.ImportID, importLease)
	if stop, res := claimed(err, "import", args.ImportID); stop {
		return res
	}
	err = im.run(ctx, imp, checkpoint)
	if errors.Is(err, muster.ErrImportCancelled) {
		im.Log.Info("import cancelled", "import", imp.ID)
		return nil
	}
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
	r, err := workbook.Open(path, imp.FileName, im.Limits, dir, imp.Mapping)
	if e := muster.AsError(err); e != nil {
		im.Log.Info("import rejected", "import", imp.ID, "code", e.Code, "reason", e.Message)
		return im.Store.FinishImport(ctx, imp.ID, -1, e.Code, e.Message)
	}
	if err != nil {
		return fmt.Errorf("import %d: %w", imp.ID, err)
	}
	defer r.Close()
	h := r.Header
	if err := im.Store.SetImportHeader(ctx, imp.ID, h.Sheet, h.Line, h.Cells, h.Ignored, h.IgnoredCount, r.Estimate); err != nil {
		return err
	}
	managers, err := im.Store.AccountManagers(ctx, imp.AccountID)
	if err != nil {
		return err
	}
	run := &importRun{Importer: im, imp: imp, r: r, managers: managers, checkpoint: checkpoint}
	if imp.Mode == muster.ModePreview {
		return run.preview(ctx)
	}
	unsent, err := im.Store.UnsentBatches(ctx, imp.ID)
	if err != nil {
		return err
	}
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
	t := time.NewTicker(importLease / 3)
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
	seen       map[string]struct{} // emails of the batch being built (of the whole file in a preview)
	// dups counts the duplicates a preview finds, with the first few.
	dups *previewClass
}

// pipeline reads and writes concurrently, and queues each written batch's
// emails as one task. It returns the reason the file was cut short (more
// rows than allowed), if it was.
func (run *importRun) pipeline(ctx context.Context, unsent []int) (*muster.Error, error) {
	return run.stream(ctx, func(ctx context.Context, batches <-chan *muster.ImportBatch) error {
		for _, batch := range unsent {
			run.enqueue(ctx, batch)
		}
		for b := range batches {
			res, err := run.rows().WriteImportBatch(ctx, b)
			if err != nil {
				return err
			}
			rec := recorder(run.Metrics)
			rec.ImportRows(muster.RowCreated, res.Created)
			rec.ImportRows(muster.RowLinked, res.Linked)
			rec.ImportRows(muster.RowMember, res.Members)
			rec.ImportRows(muster.RowDuplicate, b.Duplicates)
			rec.ImportRows(muster.RowFailed, len(b.Failed))
			if len(res.Invitations) > 0 {
				run.enqueue(ctx, b.Through)
			}
			if run.OnBatch != nil {
				run.OnBatch(res)
			}
		}
		return nil
	})
}

// stream reads the file into batches in one goroutine and hands them to
// consume in another, so reading never waits for the database.
func (run *importRun) stream(ctx context.Context, consume func(context.Context, <-chan *muster.ImportBatch) error) (*muster.Error, error) {
	batches := make(chan *muster.ImportBatch, 2)
	var rejected *muster.Error
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		var err error
		rejected, err = run.read(gctx, orDefault(run.BatchSize, defaultBatch), batches)
		return err
	})
	g.Go(func() error { return consume(gctx, batches) })
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
			if run.dups == nil {
				clear(run.seen)
			}
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
			if run.dups != nil {
				run.dups.add(row.Line, row.Email, row.FullName, nil)
			}
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

// previewClass is one class of rows in a preview: a count and the first rows.
type previewClass struct {
	count   int
	samples []muster.PreviewRow
}

func (c *previewClass) add(line int, email, name string, errs []muster.RowError) {
	if c.count++; len(c.samples) < muster.PreviewSamples {
		// A reason may quote a cell of up to 64 KiB: keep the preview small.
		errs = slices.Clone(errs)
		for i := range errs {
			errs[i].Reason = muster.Clip(errs[i].Reason, 300)
		}
		c.samples = append(c.samples, muster.PreviewRow{Line: line, Email: email, FullName: name, Errors: errs})
	}
}

// preview reads the whole file as an import would and classifies every
// row, in batches, with read-only queries: it writes no contractor,
// membership or invitation. Duplicates are caught across the whole file
// (a set of its emails, bounded by IMPORT_MAX_ROWS), as the import would
// skip them.
func (run *importRun) preview(ctx context.Context) error {
	classes := map[string]*previewClass{}
	for _, c := range []string{muster.RowCreated, muster.RowLinked, muster.RowMember, muster.RowDuplicate, muster.RowFailed} {
		classes[c] = &previewClass{}
	}
	run.dups = classes[muster.RowDuplicate]
	rejected, err := run.stream(ctx, func(ctx context.Context, batches <-chan *muster.ImportBatch) error {
		for b := range batches {
			for _, f := range b.Failed {
				classes[muster.RowFailed].add(f.Line, "", "", f.Errors)
			}
			if len(b.Rows) == 0 {
				continue
			}
			emails := make([]string, len(b.Rows))
			for i, r := range b.Rows {
				emails[i] = r.Email
			}
			found, err := run.rows().ClassifyEmails(ctx, run.imp.AccountID, emails)
			if err != nil {
				return err
			}
			for _, r := range b.Rows {
				classes[found[r.Email]].add(r.Line, r.Email, r.FullName, nil)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("preview %d: %w", run.imp.ID, err)
	}
	if rejected != nil {
		return run.Store.FinishImport(ctx, run.imp.ID, run.r.Rows()-1, rejected.Code, rejected.Message)
	}
	p := &muster.Preview{Counts: map[string]int{}, Samples: map[string][]muster.PreviewRow{}, Columns: run.r.Header.Columns()}
	for name, c := range classes {
		p.Counts[name] = c.count
		p.Samples[name] = append([]muster.PreviewRow{}, c.samples...)
	}
	run.Log.Info("preview done", "import", run.imp.ID, "rows", run.r.Rows())
	return run.Store.FinishPreview(ctx, run.imp.ID, run.r.Rows(), p)
}

func (run *importRun) managerColumn() string { return run.r.Header.ManagerColumn() }

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

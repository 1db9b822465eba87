package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/workbook"
)

// importPoll is how often the command looks at the import's progress;
// workerHint is how long it waits for a worker before saying so.
const (
	importPoll = 200 * time.Millisecond
	workerHint = 10 * time.Second
)

// importOptions are the flags of muster import.
type importOptions struct {
	account int64
	report  string
	preview bool
	mapping string // JSON
	confirm int64
}

func (e *cli) importCommand() *cobra.Command {
	var o importOptions
	cmd := &cobra.Command{
		Use:   "import (--account ID [--errors PATH] [--mapping JSON] [--preview] FILE | --confirm PREVIEW_ID [--mapping JSON])",
		Short: "Import contractors from an .xlsx or .csv file into an account",
		Long: `Import contractors from an .xlsx or .csv file into an account, with a progress bar,
or preview the import first (--preview) and run the preview later (--confirm).
A worker must be running (serve or worker).

Exit status: 0 all rows imported (or skipped), 1 the file was rejected or
an error stopped the command, 2 wrong usage, 3 some rows failed (see the
error report), would fail (a preview) or the import was cancelled.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("confirm") {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			return importFile(cmd, o, path, e.getenv, e.stdout, e.stderr)
		},
	}
	f := cmd.Flags()
	f.Int64Var(&o.account, "account", 0, "the account to import the contractors into")
	f.StringVar(&o.report, "errors", "", "where to save the failed rows as .xlsx (default: FILE without its extension + .errors.xlsx)")
	f.BoolVar(&o.preview, "preview", false, "a dry run: classify every row, write and send nothing")
	f.StringVar(&o.mapping, "mapping", "", `columns to read, overriding detection: {"email": "C", "full_name": "Контакт"}`)
	f.Int64Var(&o.confirm, "confirm", 0, "run the preview with this id as an import (no FILE)")
	cmd.MarkFlagsOneRequired("account", "confirm")
	cmd.MarkFlagsMutuallyExclusive("account", "confirm")
	cmd.MarkFlagsMutuallyExclusive("preview", "confirm")
	cmd.MarkFlagsMutuallyExclusive("errors", "preview")
	return cmd
}

// importFile is `muster import --account ID FILE`. It talks to PostgreSQL
// and Redis directly, with the same configuration as the other commands:
// it stores the file and queues the import exactly as the API does, then
// follows the import that a worker (serve or worker) runs, and prints the
// summary. A rejected file exits with status 1, an import with failed
// rows with status 3 (exitRowsFailed).
func importFile(cmd *cobra.Command, o importOptions, path string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx := cmd.Context()
	mapping, err := workbook.ParseMapping([]byte(o.mapping))
	if e := muster.AsError(err); e != nil {
		return usageError(cmd, fmt.Errorf("--mapping: %s", e.Message))
	}
	a, err := open(ctx, getenv, stderr, false)
	if err != nil {
		return err
	}
	defer a.close()
	var im *muster.Import
	if o.confirm > 0 {
		im, err = a.confirm(ctx, o.confirm, mapping)
	} else {
		im, err = a.upload(ctx, actions.Upload{AccountID: o.account, FileName: path, Mapping: mapping, Preview: o.preview}, path)
	}
	if e := muster.AsError(err); e != nil {
		return errors.New(e.Message)
	}
	if err != nil {
		return err
	}
	if o.confirm > 0 {
		path = im.FileName // the report goes to the working directory
	}
	if im, err = a.follow(ctx, im, stderr); err != nil {
		return err
	}
	if im.Mode == muster.ModePreview {
		return previewSummary(im, stdout)
	}
	report := o.report
	if report == "" {
		report = strings.TrimSuffix(path, filepath.Ext(path)) + ".errors.xlsx"
	}
	return a.summary(ctx, im, report, stdout)
}

// confirm runs a finished preview as an import and queues it.
func (a *app) confirm(ctx context.Context, id int64, mapping workbook.Mapping) (*muster.Import, error) {
	im, existing, err := a.actions().ConfirmPreview(ctx, id, 0, mapping)
	if err != nil {
		return nil, err
	}
	a.existing(im, existing)
	return im, nil
}

// previewSummary prints what a preview found; rows that would fail make
// the exit status 3, as in an import.
func previewSummary(im *muster.Import, stdout io.Writer) error {
	fmt.Fprintf(stdout, "preview %d of %s into account %d: %s\n", im.ID, im.FileName, im.AccountID, im.Status)
	if im.Status == muster.ImportRejected {
		return fmt.Errorf("%s was rejected: %s", im.FileName, im.ErrorMessage)
	}
	if im.Preview == nil {
		return fmt.Errorf("preview %d is %s", im.ID, im.Status)
	}
	where := fmt.Sprintf("row %d", im.HeaderRow)
	if im.Sheet != "" {
		where += " of sheet «" + im.Sheet + "»"
	}
	fmt.Fprintf(stdout, "  header: %s\n", where)
	for _, c := range im.Preview.Columns {
		how := "detected"
		if c.Mapped {
			how = "mapping"
		}
		fmt.Fprintf(stdout, "  column %-3s %-30q → %s (%s)\n", c.Letter, c.Header, c.Field, how)
	}
	if im.IgnoredCount > 0 {
		fmt.Fprintf(stdout, "  ignored columns (%d): %s\n", im.IgnoredCount, strings.Join(im.Ignored, ", "))
	}
	p := im.Preview
	for _, class := range []string{muster.RowCreated, muster.RowLinked, muster.RowMember, muster.RowDuplicate, muster.RowFailed} {
		fmt.Fprintf(stdout, "  %-10s %7d\n", class, p.Counts[class])
		for _, r := range p.Samples[class] {
			line := fmt.Sprintf("    row %d: %s %s", r.Line, r.Email, r.FullName)
			for _, e := range r.Errors {
				line += fmt.Sprintf(" [%s: %s]", e.Column, e.Reason)
			}
			fmt.Fprintln(stdout, strings.TrimRight(line, " "))
		}
	}
	fmt.Fprintf(stdout, "  nothing was written or sent. To import it: muster import --confirm %d (before %s)\n", im.ID, im.ExpiresAt.Format(time.RFC3339))
	if p.Counts[muster.RowFailed] > 0 {
		return exitError{exitRowsFailed, fmt.Errorf("%d rows would fail", p.Counts[muster.RowFailed])}
	}
	return nil
}

// upload checks and stores the file at path as up says and queues its
// import, as the API does.
func (a *app) upload(ctx context.Context, up actions.Upload, path string) (*muster.Import, error) {
	if _, err := a.db.FindAccount(ctx, up.AccountID); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	im, existing, err := a.actions().Upload(ctx, up, f, a.limits())
	if err != nil {
		return nil, err
	}
	a.existing(im, existing)
	return im, nil
}

// existing says when a file was imported before and nothing new is created.
func (a *app) existing(im *muster.Import, existing bool) {
	if existing {
		a.log.Warn("this file was imported into the account before: nothing new is created; showing that import", "import", im.ID)
	}
}

// follow shows the import's progress until it finishes: a progress bar on
// a terminal, a line every few seconds otherwise (a log, CI).
func (a *app) follow(ctx context.Context, im *muster.Import, stderr io.Writer) (*muster.Import, error) {
	show := lines(stderr, im.ID)
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		show = bar(stderr, im.ID)
	}
	tick := time.NewTicker(importPoll)
	defer tick.Stop()
	start, hinted := time.Now(), false
	for {
		show(im, "")
		if im.Finished() {
			return im, nil
		}
		if im.Status == muster.ImportQueued && !hinted && time.Since(start) > workerHint {
			show(im, "waiting for a worker: is `muster serve` or `muster worker` running?")
			hinted = true
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "\nstopped watching; import %d goes on in the worker\n", im.ID)
			return nil, ctx.Err()
		case <-tick.C:
		}
		var err error
		if im, err = a.db.FindImport(ctx, im.ID); err != nil {
			return nil, err
		}
	}
}

func bar(w io.Writer, id int64) func(*muster.Import, string) {
	b := progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(fmt.Sprintf("import %d", id)),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
	)
	return func(im *muster.Import, note string) {
		if note != "" {
			b.Describe(fmt.Sprintf("import %d: %s", id, note))
		}
		if im.TotalRows != nil && *im.TotalRows > 0 {
			b.ChangeMax(max(*im.TotalRows, im.ProcessedRows))
		}
		_ = b.Set(im.ProcessedRows)
		if im.Finished() {
			_ = b.Finish()
			fmt.Fprintln(w)
		}
	}
}

// lines reports progress as plain lines, at most every two seconds.
func lines(w io.Writer, id int64) func(*muster.Import, string) {
	var last time.Time
	return func(im *muster.Import, note string) {
		if note != "" {
			fmt.Fprintf(w, "import %d: %s\n", id, note)
		}
		if !im.Finished() && time.Since(last) < 2*time.Second {
			return
		}
		last = time.Now()
		total := "?"
		if im.TotalRows != nil {
			total = fmt.Sprint(*im.TotalRows)
		}
		fmt.Fprintf(w, "import %d: %s, %d/%s rows\n", id, im.Status, im.ProcessedRows, total)
	}
}

// summary prints what the import did and saves the failed rows.
func (a *app) summary(ctx context.Context, im *muster.Import, reportPath string, stdout io.Writer) error {
	fmt.Fprintf(stdout, "import %d of %s into account %d: %s\n", im.ID, im.FileName, im.AccountID, im.Status)
	switch im.Status {
	case muster.ImportRejected:
		return fmt.Errorf("%s was rejected: %s", im.FileName, im.ErrorMessage)
	case muster.ImportCancelled:
		return exitError{exitRowsFailed, fmt.Errorf("import %d was cancelled after %d rows", im.ID, im.ProcessedRows)}
	}
	fmt.Fprintf(stdout, "  rows read  %7d\n  created    %7d\n  linked     %7d\n  skipped    %7d\n  failed     %7d\n",
		im.ProcessedRows, im.Created, im.Linked, im.Skipped, im.Failed)
	if len(im.Ignored) > 0 {
		more := ""
		if im.IgnoredCount > len(im.Ignored) {
			more = fmt.Sprintf(" and %d more", im.IgnoredCount-len(im.Ignored))
		}
		fmt.Fprintf(stdout, "  ignored columns: %s%s\n", strings.Join(im.Ignored, ", "), more)
	}
	if im.Failed == 0 {
		return nil
	}
	if err := a.saveReport(ctx, im, reportPath); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  error report: %s (also GET /v1/imports/%d/errors?format=xlsx); fix the rows and import it again\n", reportPath, im.ID)
	return exitError{exitRowsFailed, fmt.Errorf("%d rows failed", im.Failed)}
}

func (a *app) saveReport(ctx context.Context, im *muster.Import, path string) error {
	header, err := a.db.ImportHeader(ctx, im.ID)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("error report: %w", err)
	}
	err = workbook.WriteErrorReport(f, header, func(add func([]string, string) error) error {
		return a.db.ImportErrors(ctx, im.ID, func(fr muster.FailedRow) error { return add(fr.Raw, fr.Reason()) })
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

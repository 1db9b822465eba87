package jobs_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/xuri/excelize/v2"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/workbook"
	"github.com/muster-dev/muster/jobs"
	muster_mail "github.com/muster-dev/muster/mail"
)

// sheet writes an .xlsx with rows starting at row 1 (nil rows stay blank).
func sheet(t *testing.T, rows ...[]any) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, r := range rows {
		if r == nil {
			continue
		}
		if err := f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i+1), &r); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "contractors.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// upload stores a file as an import of the bundle's account.
func (b *testBundle) upload(t *testing.T, path string) (*muster.Import, bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	format, err := workbook.Detect(f, int64(len(data)), filepath.Base(path), workbook.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	im, existing, err := b.db.CreateImport(context.Background(), muster.Upload{
		AccountID: b.account.ID, FileName: filepath.Base(path), Format: format, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]),
	}, strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return im, existing
}

func (b *testBundle) importer(batch int) *jobs.Importer {
	return &jobs.Importer{Store: b.db, Queue: b.queue, BatchSize: batch,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: b.metrics}
}

func (b *testBundle) find(t *testing.T, id int64) *muster.Import {
	t.Helper()
	im, err := b.db.FindImport(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func (b *testBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := b.db.Get(&n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// emailsQueued checks that each batch of the import that has emails has
// its sixteen send tasks waiting on the bulk queue, and nothing else is there,
// and returns how many emails those tasks cover.
func (b *testBundle) emailsQueued(t *testing.T, importID int64) int {
	t.Helper()
	var batches []int
	if err := b.db.Select(&batches, `SELECT DISTINCT import_batch FROM invitations WHERE import_id = $1 ORDER BY 1`, importID); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, batch := range batches {
		want = append(want, fmt.Sprintf("import:%d:send:%d", importID, batch))
		for part := 1; part < 16; part++ {
			want = append(want, fmt.Sprintf("import:%d:send:%d:%d", importID, batch, part))
		}
	}
	got := b.bulkTasks(t)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("bulk queue %q, want sixteen tasks per batch %q", got, want)
	}
	return b.count(t, fmt.Sprintf(`SELECT count(*) FROM invitations WHERE import_id = %d`, importID))
}

// bulkTasks lists the task ids waiting on the bulk queue.
func (b *testBundle) bulkTasks(t *testing.T) []string {
	t.Helper()
	return b.pending(t, jobs.QueueBulk)
}

// pending lists the task ids waiting on a queue.
func (b *testBundle) pending(t *testing.T, queue string) []string {
	t.Helper()
	// Read Redis directly: after a FLUSHDB the client no longer registers
	// the queue for the inspector, though the tasks are there.
	ids, err := b.redis.Client.LRange(context.Background(), "asynq:{"+queue+"}:pending", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

func TestImportClassifiesEveryRow(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	owner := strings.ToLower(t.Name()) + "@owner.test"
	b.invite(t, "member@example.test", "")
	excluded := b.invite(t, "excluded@example.test", "")
	_, err := b.db.ExecContext(ctx, `UPDATE memberships SET status = 'excluded', excluded_at = now() WHERE id = $1`, excluded.Membership.ID)
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.db.CreateAccount(ctx, b.account.ClientID, "Другой", nil)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := muster.NewInvite(other.ID, "registered@example.test", "", "", nil, "")
	reg, err := b.db.Invite(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.ExecContext(ctx, `UPDATE contractors SET registered_at = now() WHERE id = $1`, reg.Contractor.ID); err != nil {
		t.Fatal(err)
	}
	path := sheet(t,
		[]any{"Исполнители на март"},
		nil,
		[]any{"ФИО", "Email", "Телефон", "Менеджер", "Язык", "Отдел"},
		[]any{"Анна", "anna@example.test", "8 916 123 45 67", owner, "en", "Дизайн"},
		[]any{"Рег", "Registered@Example.test"},
		[]any{"Член", "member@example.test"},
		nil,
		[]any{"Искл", "excluded@example.test"},
		[]any{"Анна снова", "  ANNA@example.TEST "},
		[]any{"Плохой", "anna@"},
		[]any{"Чужой менеджер", "boris@example.test", "", "stranger@elsewhere.test"},
		[]any{"Язык", "vera@example.test", "", "", "klingon"},
	)
	im, existing := b.upload(t, path)
	if existing || im.Status != muster.ImportQueued {
		t.Fatalf("new upload: %+v existing=%v", im, existing)
	}
	if err := b.importer(3).Process(ctx, jobs.ImportArgs{ImportID: im.ID}); err != nil {
		t.Fatal(err)
	}
	im = b.find(t, im.ID)
	if im.Status != muster.ImportDone || im.Sheet != "Sheet1" || im.HeaderRow != 3 || im.TotalRows == nil || *im.TotalRows != 8 ||
		im.ProcessedRows != 8 || im.Created != 2 || im.Linked != 1 || im.Skipped != 2 || im.Failed != 3 ||
		im.StartedAt == nil || im.FinishedAt == nil || !slices.Equal(im.Ignored, []string{"Отдел"}) {
		t.Fatalf("import %+v", im)
	}
	// Batches of 3: the duplicate comes in a later batch, a member by then.
	for outcome, n := range map[string]float64{"created": 2, "linked": 1, "member": 2, "duplicate": 0, "failed": 3} {
		b.wantMetric(t, `muster_import_rows_total{outcome="`+outcome+`"}`, n)
	}
	var anna struct {
		Phone    string `db:"phone"`
		Locale   string `db:"locale"`
		Managers int    `db:"managers"`
	}
	// The phone the client typed is the membership's, not the profile's.
	err = b.db.Get(&anna, `SELECT m.phone, m.locale, (SELECT count(*) FROM membership_managers mm WHERE mm.membership_id = m.id) AS managers
		FROM contractors c JOIN memberships m ON m.contractor_id = c.id WHERE c.email = 'anna@example.test'`)
	if err != nil || anna.Phone != "+79161234567" || anna.Locale != "en" || anna.Managers != 1 {
		t.Errorf("anna: %+v %v", anna, err)
	}
	var kinds []string
	if err := b.db.Select(&kinds, `SELECT kind || ':' || c.email FROM invitations i JOIN memberships m ON m.id = i.membership_id
		JOIN contractors c ON c.id = m.contractor_id WHERE i.import_id = $1 ORDER BY c.email`, im.ID); err != nil {
		t.Fatal(err)
	}
	want := []string{"invite:anna@example.test", "invite:excluded@example.test", "added:registered@example.test"}
	if !slices.Equal(kinds, want) {
		t.Errorf("invitations %q, want %q", kinds, want)
	}
	if n := b.emailsQueued(t, im.ID); n != 3 {
		t.Errorf("%d emails on the bulk queue, want 3", n)
	}
	var errs []muster.RowError
	err = b.db.ImportErrors(ctx, im.ID, func(fr muster.FailedRow) error {
		errs = append(errs, fr.Errors...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantErrs := []muster.RowError{
		{Line: 10, Column: "Email", Code: "invalid_email"},
		{Line: 11, Column: "Менеджер", Code: "unknown_manager"},
		{Line: 12, Column: "Язык", Code: "unsupported_locale"},
	}
	if len(errs) != len(wantErrs) {
		t.Fatalf("errors %+v", errs)
	}
	for i, w := range wantErrs {
		if e := errs[i]; e.Line != w.Line || e.Column != w.Column || e.Code != w.Code || e.Reason == "" {
			t.Errorf("error %d: %+v, want %+v", i, e, w)
		}
	}
	// The same file again creates nothing and says so.
	again, existing := b.upload(t, path)
	if !existing || again.ID != im.ID {
		t.Fatalf("second upload: %+v existing=%v", again, existing)
	}
	if err := b.importer(3).Process(ctx, jobs.ImportArgs{ImportID: im.ID}); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM invitations WHERE import_id IS NOT NULL`); n != 3 {
		t.Fatalf("%d invitations after a repeated task, want 3", n)
	}
}

// A worker killed between batches is replaced; the import ends with every
// row exactly once, the right counters, and every email on the queue.
func TestKilledImportResumesWithoutDuplicates(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	rows := [][]any{{"Email", "ФИО"}}
	for i := range 50 {
		rows = append(rows, []any{fmt.Sprintf("user%02d@example.test", i), fmt.Sprintf("User %d", i)})
	}
	rows = append(rows, []any{"USER03@example.test", "dup across the checkpoint"}, []any{"bad@", "fails"})
	im, _ := b.upload(t, sheet(t, rows...))

	ctx, kill := context.WithCancel(context.Background())
	first := b.importer(10)
	batches := 0
	first.OnBatch = func(*muster.BatchResult) {
		if batches++; batches == 2 {
			kill() // the worker dies after its second commit
		}
	}
	if err := first.Process(ctx, jobs.ImportArgs{ImportID: im.ID}); !errors.Is(err, context.Canceled) {
		t.Fatalf("killed run: %v", err)
	}
	mid := b.find(t, im.ID)
	if mid.Status != muster.ImportRunning || mid.ProcessedRows != 20 || mid.Created != 20 {
		t.Fatalf("after the kill: %+v", mid)
	}
	// A stopped worker gives the import up; one that dies cannot: its
	// heartbeat stays fresh until the lease runs out.
	if n := b.count(t, `SELECT count(*) FROM imports WHERE heartbeat_at IS NULL`); n != 1 {
		t.Errorf("a stopped worker should release the import")
	}
	if _, err := b.db.Exec(`UPDATE imports SET heartbeat_at = now() WHERE id = $1`, im.ID); err != nil {
		t.Fatal(err)
	}
	// Redis lost what the dead worker enqueued, too.
	if err := b.redis.Client.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	// Its heartbeat is fresh: another worker must wait for the lease…
	second := b.importer(10)
	if err := second.Process(context.Background(), jobs.ImportArgs{ImportID: im.ID}); !errors.Is(err, muster.ErrClaimed) {
		t.Fatalf("taking over a live import: %v", err)
	}
	// …and takes over once it has run out.
	if _, err := b.db.Exec(`UPDATE imports SET heartbeat_at = now() - interval '5 minutes' WHERE id = $1`, im.ID); err != nil {
		t.Fatal(err)
	}
	if err := second.Process(context.Background(), jobs.ImportArgs{ImportID: im.ID}); err != nil {
		t.Fatal(err)
	}
	done := b.find(t, im.ID)
	if done.Status != muster.ImportDone || done.ProcessedRows != 52 || done.Created != 50 || done.Skipped != 1 || done.Failed != 1 || *done.TotalRows != 52 {
		t.Fatalf("after the restart: %+v", done)
	}
	for table, want := range map[string]int{"contractors": 50, "memberships": 50, "invitations": 50, "import_errors": 1} {
		if n := b.count(t, `SELECT count(*) FROM `+table); n != want {
			t.Errorf("%d %s, want %d", n, table, want)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM (SELECT membership_id FROM invitations GROUP BY 1 HAVING count(*) > 1) x`); n != 0 {
		t.Errorf("%d memberships with two emails", n)
	}
	if n := b.emailsQueued(t, im.ID); n != 50 {
		t.Errorf("%d emails on the bulk queue after the restart, want all 50", n)
	}
}

func TestImportProgressMoves(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	rows := [][]any{{"Email"}}
	for i := range 25 {
		rows = append(rows, []any{fmt.Sprintf("p%d@example.test", i)})
	}
	im, _ := b.upload(t, sheet(t, rows...))
	imp := b.importer(10)
	var seen []int
	imp.OnBatch = func(res *muster.BatchResult) {
		// What a client polling GET /v1/imports/{id} sees between batches.
		now := b.find(t, im.ID)
		seen = append(seen, now.ProcessedRows)
		if now.Status != muster.ImportRunning || now.TotalRows == nil || *now.TotalRows != 25 {
			t.Errorf("mid-import: %+v", now)
		}
	}
	if err := imp.Process(context.Background(), jobs.ImportArgs{ImportID: im.ID}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []int{10, 20, 25}) {
		t.Errorf("progress %v, want 10, 20, 25", seen)
	}
}

func TestRejectedFileSaysWhy(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	im, _ := b.upload(t, sheet(t, []any{"ФИО", "Телефон"}, []any{"Анна", "+79161234567"}))
	if err := b.importer(0).Process(context.Background(), jobs.ImportArgs{ImportID: im.ID}); err != nil {
		t.Fatal(err)
	}
	im = b.find(t, im.ID)
	if im.Status != muster.ImportRejected || im.ErrorCode != "no_email_column" || !strings.Contains(im.ErrorMessage, "Email") || im.FinishedAt == nil {
		t.Fatalf("%+v", im)
	}
}

// Emails an import queued go back to the bulk queue, and the import itself
// to the imports queue, when Redis loses them.
func TestRequeueSendsImportWorkToTheBulkQueue(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	done, _ := b.upload(t, sheet(t, []any{"Email"}, []any{"a@example.test"}))
	if err := b.importer(0).Process(ctx, jobs.ImportArgs{ImportID: done.ID}); err != nil {
		t.Fatal(err)
	}
	single := b.invite(t, "single@example.test", "")
	stale, _ := b.upload(t, sheet(t, []any{"Email"}, []any{"b@example.test"}))
	if _, err := b.db.Exec(`UPDATE invitations SET enqueued_at = now() - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Exec(`UPDATE imports SET enqueued_at = now() - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	if err := b.redis.Client.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.requeue.Process(ctx, jobs.RequeueArgs{}); err != nil {
		t.Fatal(err)
	}
	if n := b.emailsQueued(t, done.ID); n != 1 {
		t.Errorf("%d emails of the import queued again, want 1", n)
	}
	if got, want := b.pending(t, jobs.QueueImports), []string{fmt.Sprintf("import:%d", stale.ID)}; !slices.Equal(got, want) {
		t.Errorf("imports queue %q, want %q", got, want)
	}
	in := asynq.NewInspectorFromRedisClient(b.redis.Client)
	if _, err := in.GetTaskInfo(jobs.QueueCritical, fmt.Sprintf("send:%d", single.Invitation.ID)); err != nil {
		t.Errorf("a single invitation belongs on the critical queue: %v", err)
	}
}

// Through the real worker: upload, the import job, the emails.
func TestImportThroughTheWorkerSendsEmails(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.startWorker(t)
	im, _ := b.upload(t, sheet(t, []any{"Email", "ФИО", "Язык"}, []any{"ru@example.test", "Анна"}, []any{"en@example.test", "Ann", "English"}))
	if err := b.queue.Import(context.Background(), im.ID); err != nil {
		t.Fatal(err)
	}
	msgs := b.smtp.Wait(t, 2, 15*time.Second)
	subjects := map[string]string{}
	for _, m := range msgs {
		subjects[m.To[0]] = m.Subject
	}
	if !strings.Contains(subjects["ru@example.test"], "приглашает") || !strings.Contains(subjects["en@example.test"], "invites") {
		t.Errorf("subjects %q", subjects)
	}
	// The first batch's emails may go out before the import records that
	// it is done.
	got := b.find(t, im.ID)
	for deadline := time.Now().Add(15 * time.Second); got.Status != muster.ImportDone && time.Now().Before(deadline); got = b.find(t, im.ID) {
		time.Sleep(20 * time.Millisecond)
	}
	if got.Status != muster.ImportDone || got.Created != 2 {
		t.Errorf("%+v", got)
	}
}

// Duplicates in one batch, differing only in case and spaces, create one
// contractor; the same email in a later batch is skipped as a member.
func TestDuplicatesInAndAcrossBatches(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	im, _ := b.upload(t, sheet(t,
		[]any{"Email", "ФИО"},
		[]any{"dup@example.test", "Первый"},
		[]any{"  DUP@Example.test", "Второй"},
		[]any{"other@example.test", "Другой"},
		[]any{"Dup@example.TEST ", "Третий, в следующей партии"},
	))
	if err := b.importer(3).Process(context.Background(), jobs.ImportArgs{ImportID: im.ID}); err != nil {
		t.Fatal(err)
	}
	got := b.find(t, im.ID)
	if got.Status != muster.ImportDone || got.Created != 2 || got.Skipped != 2 || got.Failed != 0 {
		t.Fatalf("%+v", got)
	}
	var name string
	if err := b.db.Get(&name, `SELECT full_name FROM memberships WHERE email = 'dup@example.test'`); err != nil || name != "Первый" {
		t.Errorf("the first row wins: %q %v", name, err)
	}
	if n := b.count(t, `SELECT count(*) FROM invitations`); n != 2 {
		t.Errorf("%d invitations, want 2", n)
	}
}

// One task sends a batch's emails; a temporary refusal retries that email
// alone, and the others are not sent twice.
func TestImportBatchTaskRetriesOnlyWhatFailed(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	im, _ := b.upload(t, sheet(t, []any{"Email"}, []any{"a@example.test"}, []any{"b@example.test"}, []any{"c@example.test"}))
	if err := b.importer(0).Process(ctx, jobs.ImportArgs{ImportID: im.ID}); err != nil {
		t.Fatal(err)
	}
	var batch int
	if err := b.db.Get(&batch, `SELECT DISTINCT import_batch FROM invitations WHERE import_id = $1`, im.ID); err != nil {
		t.Fatal(err)
	}
	slow := *b.sender
	slow.RetryBase = time.Hour // the refused email waits past this run
	send := &jobs.BatchSender{Store: b.db, Send: &slow}
	b.smtp.FailNext(1, 451, "greylisted")
	err := send.Process(ctx, jobs.ImportSendArgs{ImportID: im.ID, Batch: batch})
	if err == nil || !strings.Contains(err.Error(), "1 emails wait for their next attempt") {
		t.Fatalf("first run: %v", err)
	}
	// The task comes back when the refused email may go, without spending
	// one of its retries on the wait.
	until, ok := jobs.PostponedUntil(err)
	if left := time.Until(until); !ok || left < 47*time.Minute || left > 72*time.Minute || jobs.IsFailure(err) {
		t.Errorf("the task runs again in %s (postponed %v, a failure %v), want the email's retry time, 1 h ± 20%%", left, ok, jobs.IsFailure(err))
	}
	if n := len(b.smtp.Messages()); n != 2 {
		t.Fatalf("%d emails after the first run, want 2", n)
	}
	if err := send.Process(ctx, jobs.ImportSendArgs{ImportID: im.ID, Batch: batch}); err == nil {
		t.Fatal("the refused email went out again before its retry time")
	}
	if _, err := b.db.Exec(`UPDATE invitations SET claimed_until = now() WHERE status = 'retrying'`); err != nil {
		t.Fatal(err) // its retry time has come
	}
	if err := send.Process(ctx, jobs.ImportSendArgs{ImportID: im.ID, Batch: batch}); err != nil {
		t.Fatal(err)
	}
	if err := send.Process(ctx, jobs.ImportSendArgs{ImportID: im.ID, Batch: batch}); err != nil { // delivered once more: nothing to do
		t.Fatal(err)
	}
	msgs := b.smtp.Messages()
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.To[0]] {
			t.Errorf("%s emailed twice", m.To[0])
		}
		seen[m.To[0]] = true
	}
	if len(msgs) != 3 {
		t.Fatalf("%d emails, want 3", len(msgs))
	}
}

// A client's small import goes out in the next claim, whatever another
// client's large import still owes: claims are dealt out client by client.
func TestBulkClaimsAreFairAcrossClients(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	rows := func(prefix string, n int) [][]any {
		out := [][]any{{"Email"}}
		for i := range n {
			out = append(out, []any{fmt.Sprintf("%s%d@example.test", prefix, i)})
		}
		return out
	}
	big, _ := b.upload(t, sheet(t, rows("a", 300)...))
	if err := b.importer(100).Process(ctx, jobs.ImportArgs{ImportID: big.ID}); err != nil {
		t.Fatal(err)
	}
	_, other, err := b.db.CreateClient(ctx, muster.ClientDraft{
		Name: "ООО Василёк", OwnerEmail: "boss@vasilek.test", OwnerLocale: muster.Russian, AccountName: "Василёк",
	})
	if err != nil {
		t.Fatal(err)
	}
	b.account = other
	small, _ := b.upload(t, sheet(t, rows("b", 20)...))
	if err := b.importer(100).Process(ctx, jobs.ImportArgs{ImportID: small.ID}); err != nil {
		t.Fatal(err)
	}
	got, _, err := b.db.ClaimBulk(ctx, 40, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	perClient := map[string]int{}
	for _, d := range got {
		perClient[d.ClientName]++
	}
	if len(got) != 40 || perClient["ООО Василёк"] != 20 || perClient["ООО Ромашка"] != 20 {
		t.Fatalf("claimed %d: %v; want 20 of each client", len(got), perClient)
	}
	again, _, err := b.db.ClaimBulk(ctx, 40, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range again {
		for _, g := range got {
			if d.Invitation.ID == g.Invitation.ID {
				t.Fatalf("invitation %d claimed twice under one lease", d.Invitation.ID)
			}
		}
	}
	if len(again) != 40 || again[0].ClientName != "ООО Ромашка" {
		t.Fatalf("the second claim took %d", len(again))
	}
}

// A relay that hangs every bulk connection does not hold up a single
// invitation: interactive sends have a pool of their own.
func TestInteractiveSendsNotBehindHungBulk(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	im, _ := b.upload(t, sheet(t, []any{"Email"}, []any{"h1@example.test"}, []any{"h2@example.test"},
		[]any{"h3@example.test"}, []any{"h4@example.test"}, []any{"h5@example.test"}))
	if err := b.importer(0).Process(ctx, jobs.ImportArgs{ImportID: im.ID}); err != nil {
		t.Fatal(err)
	}
	pool, err := muster_mail.NewSMTP(b.smtp.URL(), muster_mail.SMTPOptions{
		From: &mail.Address{Address: "no-reply@muster.test"}, Conns: 4, Timeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	bulk := *b.sender
	bulk.Mail = pool
	b.smtp.HangNext(4)
	done := make(chan error, 1)
	go func() {
		done <- (&jobs.BatchSender{Store: b.db, Send: &bulk}).Process(ctx, jobs.ImportSendArgs{ImportID: im.ID})
	}()
	b.smtp.WaitHung(t, 4, 10*time.Second) // every bulk connection is stuck
	res := b.invite(t, "single@example.test", "")
	if err := b.process(ctx, jobs.SendArgs{InvitationID: res.Invitation.ID}); err != nil {
		t.Fatal(err)
	}
	got := b.smtp.Wait(t, 1, 10*time.Second)
	if len(got) != 1 || got[0].To[0] != "single@example.test" {
		t.Fatalf("accepted %d, the first to %v", len(got), got[0].To)
	}
	cancel()
	<-done
}

// A worker at its cap of imports hands the next one back to the queue
// without spending an attempt, and runs it once a slot is free.
func TestImportSlotsCapConcurrentImports(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	imp := jobs.NewImporter(b.deps) // the worker's
	imp.Slots = jobs.NewSlots(1)
	imp.Slots <- struct{}{} // another import holds the only slot
	b.startWorker(t)
	im, _ := b.upload(t, sheet(t, []any{"Email"}, []any{"slot@example.test"}))
	if err := b.queue.Import(context.Background(), im.ID); err != nil {
		t.Fatal(err)
	}
	inspect := asynq.NewInspectorFromRedisClient(b.redis.Client)
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, err := inspect.GetTaskInfo(jobs.QueueImports, fmt.Sprintf("import:%d", im.ID))
		if err == nil && info.State == asynq.TaskStateRetry {
			if info.Retried != 0 || !strings.Contains(info.LastErr, "IMPORT_CONCURRENCY") {
				t.Fatalf("busy retry counted as an attempt: retried %d, %q", info.Retried, info.LastErr)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the import never went back to its queue: %+v %v", info, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := b.find(t, im.ID); got.Status != muster.ImportQueued {
		t.Fatalf("an import waiting for a slot is %s", got.Status)
	}
	<-imp.Slots
	for b.find(t, im.ID).Status != muster.ImportDone {
		if time.Now().After(deadline) {
			t.Fatalf("the import did not run once a slot was free: %+v", b.find(t, im.ID))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Cancelling between batches: the first batch's emails, already sent,
// stay sent and are not sent again; the second batch's, queued, are
// cancelled and never go out; nothing after the cancel is written.
func TestCancelBetweenBatchesSendsNothingTwice(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	rows := [][]any{{"Email"}}
	for _, u := range []string{"a", "b", "c", "d", "e", "f"} {
		rows = append(rows, []any{u + "@example.test"})
	}
	im, _ := b.upload(t, sheet(t, rows...))
	send := &jobs.BatchSender{Store: b.db, Send: b.sender}
	imp := b.importer(2)
	var batches []int
	imp.OnBatch = func(res *muster.BatchResult) {
		batches = append(batches, res.Import.ProcessedRows)
		switch len(batches) {
		case 1: // the first batch's emails go out
			var line int
			if err := b.db.Get(&line, `SELECT max(import_batch) FROM invitations WHERE import_id = $1`, im.ID); err != nil {
				t.Fatal(err)
			}
			if err := send.Process(ctx, jobs.ImportSendArgs{ImportID: im.ID, Batch: line}); err != nil {
				t.Fatal(err)
			}
		case 2: // the second batch is committed, its emails still queued
			if _, n, err := b.db.CancelImport(ctx, im.ID); err != nil || n != 2 {
				t.Fatalf("cancel: %d emails cancelled, %v", n, err)
			}
		}
	}
	if err := imp.Process(ctx, jobs.ImportArgs{ImportID: im.ID}); err != nil {
		t.Fatal(err)
	}
	// Every batch task runs again, as a requeue would: nothing more goes out.
	var lines []int
	if err := b.db.Select(&lines, `SELECT DISTINCT import_batch FROM invitations WHERE import_id = $1`, im.ID); err != nil {
		t.Fatal(err)
	}
	for _, line := range lines {
		if err := send.Process(ctx, jobs.ImportSendArgs{ImportID: im.ID, Batch: line}); err != nil {
			t.Fatal(err)
		}
	}
	got := b.find(t, im.ID)
	if got.Status != muster.ImportCancelled || got.ProcessedRows != 4 || got.Created != 4 || len(batches) != 2 {
		t.Errorf("import %+v after %d batches", got, len(batches))
	}
	if n := len(b.smtp.Messages()); n != 2 {
		t.Errorf("%d emails sent, want the first batch's 2", n)
	}
	sent := b.count(t, `SELECT count(*) FROM invitations WHERE import_id = $1 AND status = 'sent'`, im.ID)
	cancelled := b.count(t, `SELECT count(*) FROM invitations WHERE import_id = $1 AND status = 'cancelled'`, im.ID)
	members := b.count(t, `SELECT count(*) FROM memberships WHERE account_id = $1`, b.account.ID)
	if sent != 2 || cancelled != 2 || members != 4 {
		t.Errorf("%d sent, %d cancelled, %d memberships; want 2, 2, 4", sent, cancelled, members)
	}
}

package actions_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/muster-dev/muster/internal/actions"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/postgres"
	"github.com/muster-dev/muster/internal/postgres/pgtest"
	"github.com/muster-dev/muster/internal/redistest"
	"github.com/muster-dev/muster/internal/workbook"
	"github.com/muster-dev/muster/jobs"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	redistest.Stop()
	os.Exit(code)
}

type bundle struct {
	db      *postgres.DB
	act     *actions.Actions
	inspect *asynq.Inspector
	account *muster.Account
	log     *bytes.Buffer
}

func setup(t *testing.T, redisAddr string) *bundle {
	t.Helper()
	db := pgtest.New(t)
	var client *asynq.Client
	var inspect *asynq.Inspector
	if redisAddr == "" {
		rdb := redistest.New(t)
		client, inspect = asynq.NewClientFromRedisClient(rdb.Client), asynq.NewInspectorFromRedisClient(rdb.Client)
	} else {
		client = asynq.NewClient(asynq.RedisClientOpt{Addr: redisAddr, DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { client.Close() })
	}
	var log bytes.Buffer
	act := actions.New(db, jobs.NewEnqueuer(client, 3), slog.New(slog.NewTextHandler(&log, nil)), actions.Options{})
	_, acc, err := db.CreateClient(context.Background(), muster.ClientDraft{
		Name: "Acme", OwnerEmail: "owner@acme.test", OwnerLocale: muster.Russian, AccountName: "Acme",
	})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{db: db, act: act, inspect: inspect, account: acc, log: &log}
}

// An invitation is recorded and its email queued on the queue its kind
// names, under a task id that makes a second enqueue a no-op.
func TestInviteStoresThenEnqueues(t *testing.T) {
	b := setup(t, "")
	in, err := muster.NewInvite(b.account.ID, "anna@example.test", "Анна", "", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.act.Invite(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	task, err := b.inspect.GetTaskInfo(jobs.QueueCritical, "send:"+strconv.FormatInt(res.Invitation.ID, 10))
	if err != nil || task.Type != jobs.TypeSend {
		t.Fatalf("the invitation's task: %v %v", task, err)
	}
}

// With Redis unreachable, the action still succeeds: the invitation is
// recorded, the failure logged, and the requeue sweep sends it later.
func TestInviteSucceedsWithoutRedis(t *testing.T) {
	b := setup(t, "127.0.0.1:18199") // a port of ours where nothing listens
	in, err := muster.NewInvite(b.account.ID, "anna@example.test", "", "", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.act.Invite(context.Background(), in)
	if err != nil {
		t.Fatalf("invite with Redis down: %v", err)
	}
	if res.Invitation.Status != muster.SendQueued || !strings.Contains(b.log.String(), "enqueue failed; the requeue sweep will retry") {
		t.Fatalf("invitation %+v, log %q", res.Invitation, b.log.String())
	}
}

// Upload is the one path of the API and the command line: a workbook is
// stored and its import queued once; the same file again creates nothing;
// a file too large or not a workbook is refused with its code.
func TestUpload(t *testing.T) {
	b := setup(t, "")
	ctx := context.Background()
	var file bytes.Buffer
	if err := workbook.Template(&file); err != nil {
		t.Fatal(err)
	}
	up := actions.Upload{AccountID: b.account.ID, FileName: `C:\Users\anna\team.xlsx`}
	im, existing, err := b.act.Upload(ctx, up, bytes.NewReader(file.Bytes()), workbook.Limits{})
	if err != nil || existing {
		t.Fatalf("first upload: %v existing %v", err, existing)
	}
	if im.FileName != "team.xlsx" || im.Status != muster.ImportQueued {
		t.Errorf("import %+v", im)
	}
	if _, err := b.inspect.GetTaskInfo(jobs.QueueImports, "import:"+strconv.FormatInt(im.ID, 10)); err != nil {
		t.Errorf("the import's task: %v", err)
	}
	again, existing, err := b.act.Upload(ctx, up, bytes.NewReader(file.Bytes()), workbook.Limits{})
	if err != nil || !existing || again.ID != im.ID {
		t.Fatalf("the same file again: %v existing %v id %d", err, existing, again.ID)
	}
	for _, tc := range []struct {
		name string
		file io.Reader
		lim  workbook.Limits
		code string
	}{
		{"too large", bytes.NewReader(file.Bytes()), workbook.Limits{MaxBytes: 100}, "file_too_large"},
		{"not a workbook", strings.NewReader("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), workbook.Limits{}, "not_a_workbook"},
	} {
		_, _, err := b.act.Upload(ctx, up, tc.file, tc.lim)
		if muster.ErrorCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
}

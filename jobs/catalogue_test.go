package jobs

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/muster-dev/muster/internal/config"
	"github.com/muster-dev/muster/internal/postgres"
)

// Every kind's handler is built from one Deps; a worker with a kind left
// without a handler, or a kind handled twice, refuses to start, naming the
// kind, instead of failing when the first task of that kind runs.
func TestWorkerRefusesAMissingOrDuplicateHandler(t *testing.T) {
	deps := func() *Deps { return &Deps{Config: &config.Config{ImportConcurrency: 2}} }
	if err := register(asynq.NewServeMux(), kinds, deps()); err != nil {
		t.Fatalf("the catalogue: %v", err)
	}
	d := deps()
	d.Redis = redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer d.Redis.Close()
	if NewSender(d) != NewSender(d) || cap(NewImporter(d).Slots) != 2 {
		t.Error("one Deps builds one handler of each type: invitation:send and reminder:send share the Sender")
	}
	if bulk := NewBatchSender(d).Send; bulk == NewSender(d) || bulk.Sent == nil || bulk.Sent != NewSender(d).Sent {
		t.Error("the bulk sender is a Sender of its own, sharing the single sender's SentLog")
	}
	// Imports' rows and the emails they owe go through BulkStore, the
	// pool BULK_DB_CONNS caps; the rest through Store.
	single, bulk := &postgres.DB{}, &postgres.DB{}
	d = &Deps{Config: &config.Config{}, Store: single, BulkStore: bulk}
	if im, bs := NewImporter(d), NewBatchSender(d); im.Rows != bulk || im.Store != single || bs.Store != bulk || bs.Send.Store != bulk || NewSender(d).Store != single {
		t.Error("imports' rows and bulk emails use BulkStore; imports' other statements and single emails, Store")
	}
	// Single emails' claims and outcomes go through SendStore when there is one.
	sends := &postgres.DB{}
	d = &Deps{Config: &config.Config{}, Store: single, BulkStore: bulk, SendStore: sends}
	if NewSender(d).Store != sends || NewBatchSender(d).Send.Store != bulk {
		t.Error("single emails use SendStore; bulk emails still BulkStore")
	}
	for _, tc := range []struct {
		name   string
		change func(cat map[string]kind)
		want   []string
	}{
		{"no merge handler", func(cat map[string]kind) {
			k := cat[TypeMerge]
			k.handler = nil
			cat[TypeMerge] = k
		}, []string{`"` + TypeMerge + `" has no handler`}},
		{"reminders sent by the invitation handler", func(cat map[string]kind) {
			k := cat[TypeRemindSend]
			k.handler = cat[TypeSend].handler
			cat[TypeRemindSend] = k
		}, []string{`"` + TypeRemindSend + `" has no handler`, `"` + TypeSend + `" has 2 handlers`}},
	} {
		cat := maps.Clone(kinds)
		tc.change(cat)
		err := register(asynq.NewServeMux(), cat, deps())
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want %s", tc.name, err, w)
			}
		}
	}
	if _, err := NewWorker(nil, WorkerConfig{}, &Deps{}); err == nil || !strings.Contains(err.Error(), "Config") {
		t.Errorf("a worker without its configuration: %v", err)
	}
}

// Every kind's tasks carry the queue, task id, retry budget and timeout the
// catalogue declares, whoever enqueues them; the sweeps alone are periodic.
func TestTasksCarryTheirKindsOptions(t *testing.T) {
	for _, tc := range []struct {
		args    Args
		queue   string
		id      string
		retry   int
		timeout time.Duration
		every   time.Duration
	}{
		{SendArgs{InvitationID: 7}, QueueCritical, "send:7", 15, sendLease, 0},
		{RemindSendArgs{InvitationID: 7}, QueueDefault, "send:7", 15, sendLease, 0},
		{ImportSendArgs{ImportID: 3, Batch: 2000}, QueueBulk, "import:3:send:2000", 15, importTimeout, 0},
		{ImportArgs{ImportID: 3}, QueueImports, "import:3", 20, importTimeout, 0},
		{MergeArgs{MergeID: 4}, QueueDefault, "merge:4", 10, 0, 0},
		{RequeueArgs{}, QueueDefault, "", 25, 0, 5 * time.Second},
		{RemindArgs{}, QueueDefault, "", 25, 0, time.Minute},
	} {
		k, ok := kinds[tc.args.Kind()]
		if !ok {
			t.Errorf("%s: not in the catalogue", tc.args.Kind())
			continue
		}
		if _, err := newTask(tc.args, 10); err != nil {
			t.Errorf("%s: %v", tc.args.Kind(), err)
		}
		if k.queue != tc.queue || tc.args.TaskID() != tc.id || k.retries(10) != tc.retry || k.timeout != tc.timeout || k.every != tc.every {
			t.Errorf("%s: queue %s id %q retries %d timeout %s every %s; want %s %q %d %s %s", tc.args.Kind(),
				k.queue, tc.args.TaskID(), k.retries(10), k.timeout, k.every, tc.queue, tc.id, tc.retry, tc.timeout, tc.every)
		}
	}
	if len(kinds) != 7 {
		t.Errorf("the catalogue has %d kinds; this test covers 7", len(kinds))
	}

}

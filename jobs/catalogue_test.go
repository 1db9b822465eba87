package jobs

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// A worker with a kind left without a handler refuses to start, naming
// the kind, instead of failing when the first task of that kind runs.
func TestWorkerRefusesAMissingHandler(t *testing.T) {
	full := Handlers{
		Send: &Sender{}, Batches: &BatchSender{}, Import: &Importer{}, Merger: &Merger{},
		Requeue: &Requeuer{}, Reminders: &Reminders{},
	}
	if err := full.register(asynq.NewServeMux()); err != nil {
		t.Fatalf("every handler set: %v", err)
	}
	missing := full
	missing.Merger = nil
	err := missing.register(asynq.NewServeMux())
	if err == nil || !strings.Contains(err.Error(), `"`+TypeMerge+`" has no handler`) {
		t.Fatalf("no merge handler: %v", err)
	}
}

// Two handlers for one kind are refused.
func TestRegistryRefusesADuplicateHandler(t *testing.T) {
	r := &registry{mux: asynq.NewServeMux(), seen: map[string]bool{}}
	handle(r, &Sender{}, (*Sender).Process)
	handle(r, &Sender{}, (*Sender).Process)
	if len(r.errs) != 1 || !strings.Contains(r.errs[0].Error(), "two handlers") {
		t.Fatalf("a kind handled twice: %v", r.errs)
	}
}

// Every kind's tasks carry the queue, task id, retry budget and timeout the
// catalogue declares, whoever enqueues them.
func TestTasksCarryTheirKindsOptions(t *testing.T) {
	for _, tc := range []struct {
		args    Args
		queue   string
		id      string
		retry   int
		timeout time.Duration
	}{
		{SendArgs{InvitationID: 7}, QueueCritical, "send:7", 15, sendLease},
		{RemindSendArgs{InvitationID: 7}, QueueDefault, "send:7", 15, sendLease},
		{ImportSendArgs{ImportID: 3, Batch: 2000}, QueueBulk, "import:3:send:2000", 15, importTimeout},
		{ImportArgs{ImportID: 3}, QueueImports, "import:3", 20, importTimeout},
		{MergeArgs{MergeID: 4}, QueueDefault, "merge:4", 10, 0},
		{RequeueArgs{}, QueueDefault, "", 25, 0},
		{RemindArgs{}, QueueDefault, "", 25, 0},
	} {
		k, ok := kinds[tc.args.Kind()]
		if !ok {
			t.Errorf("%s: not in the catalogue", tc.args.Kind())
			continue
		}
		if _, err := newTask(tc.args, 10); err != nil {
			t.Errorf("%s: %v", tc.args.Kind(), err)
		}
		if k.queue != tc.queue || tc.args.TaskID() != tc.id || k.retries(10) != tc.retry || k.timeout != tc.timeout {
			t.Errorf("%s: queue %s id %q retries %d timeout %s; want %s %q %d %s", tc.args.Kind(),
				k.queue, tc.args.TaskID(), k.retries(10), k.timeout, tc.queue, tc.id, tc.retry, tc.timeout)
		}
	}
	if len(kinds) != 7 {
		t.Errorf("the catalogue has %d kinds; this test covers 7", len(kinds))
	}
}

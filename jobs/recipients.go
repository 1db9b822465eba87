package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/muster-dev/muster/internal/muster"
)

// RecipientLimiter counts the emails each address gets, whatever their
// kind, across every worker process (*limit.Limiter).
type RecipientLimiter interface {
	// TakeEach takes one for each key, all at once; waits[i] > 0
	// when keys[i]'s budget is spent, and says for how long.
	TakeEach(ctx context.Context, what string, keys []string) (waits []time.Duration, err error)
	// GiveBack returns what TakeEach took for keys.
	GiveBack(ctx context.Context, what string, keys []string) error
}

// recipientCap is the reason an email over its recipient's cap waits, in
// its invitation's last_error.
const recipientCap = "recipient_cap"

// capRecipients holds a set of claimed emails to LIMIT_RECIPIENT, the
// emails one address may get whatever their kind: every email passes
// here, imports, reminders and notices as well as invitations and
// resends. One call takes one from each recipient's budget.
// It returns the emails that may go now, and done, which turns the sent
// ones' outcomes into the set's: it gives back the budget of the ones
// that did not go out, and adds the outcomes of the ones postponed.
//
// An email over the cap is neither lost nor failed: it is postponed
// (retrying) until its recipient's window allows one more, and the
// attempt its claim counted is given back. An email an earlier attempt
// sent (sent) was counted then. Without Redis the cap is not checked and
// the emails go: it is a safeguard, and PostgreSQL with its leases still
// keeps each email to one send.
func (s *Sender) capRecipients(ctx context.Context, ds []*muster.Delivery, sent map[int64]string) ([]*muster.Delivery, func([]muster.Outcome) []muster.Outcome) {
	none := func(outs []muster.Outcome) []muster.Outcome { return outs }
	if s.Recipients == nil {
		return ds, none
	}
	var keys []string
	var counted []*muster.Delivery
	for _, d := range ds {
		if sent[d.Invitation.ID] == "" {
			keys, counted = append(keys, d.Email), append(counted, d)
		}
	}
	if len(keys) == 0 {
		return ds, none
	}
	waits, err := s.Recipients.TakeEach(ctx, muster.LimitRecipient, keys)
	if err != nil {
		s.Log.Warn("recipient cap not checked for some emails; sending them", "emails", len(keys), "error", err)
	}
	wait := make(map[*muster.Delivery]time.Duration, len(counted))
	taken := make(map[int64]string, len(counted))
	for i, d := range counted {
		if waits[i] > 0 {
			wait[d] = waits[i]
		} else if err == nil {
			taken[d.Invitation.ID] = d.Email // a failed take counted nothing to give back
		}
	}
	now, rec := s.Now(), recorder(s.Metrics)
	var admitted []*muster.Delivery
	var postponed []muster.Outcome
	for _, d := range ds {
		w, over := wait[d]
		if !over {
			admitted = append(admitted, d)
			continue
		}
		inv := d.Invitation
		until := now.Add(w)
		postponed = append(postponed, muster.Outcome{
			InvitationID: inv.ID, Attempt: inv.Attempts, Status: muster.SendRetrying, Postponed: true, RetryAt: until,
			Error: fmt.Sprintf("%s: this address has had as many emails as LIMIT_RECIPIENT allows; postponed to %s",
				recipientCap, until.UTC().Format(time.RFC3339)),
		})
		rec.Email(inv.Kind, string(inv.Locale), OutcomePostponed)
	}
	if len(postponed) > 0 {
		s.Log.Info("emails postponed by the recipient cap", "emails", len(postponed))
	}
	return admitted, func(outs []muster.Outcome) []muster.Outcome {
		var back []string
		for _, o := range outs {
			if email, ok := taken[o.InvitationID]; ok && o.Status != muster.SendSent {
				back = append(back, email)
			}
		}
		if len(back) > 0 {
			if err := s.Recipients.GiveBack(context.WithoutCancel(ctx), muster.LimitRecipient, back); err != nil {
				s.Log.Warn("cannot give back the recipient cap of emails not sent", "emails", len(back), "error", err)
			}
		}
		return append(outs, postponed...)
	}
}

// postponedError is a task's result when its emails wait for a later
// time (a recipient's cap, a refusal's backoff): Asynq runs the task again
// then, and does not count this run against its retries.
type postponedError struct {
	why   string
	until time.Time
}

func (e *postponedError) Error() string {
	return fmt.Sprintf("%s, postponed to %s", e.why, e.until.UTC().Format(time.RFC3339))
}

func postpone(o muster.Outcome) error {
	return &postponedError{why: fmt.Sprintf("invitation %d: %s", o.InvitationID, recipientCap), until: o.RetryAt}
}

func isPostponed(err error) bool {
	var p *postponedError
	return errors.As(err, &p)
}

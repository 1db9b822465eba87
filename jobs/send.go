package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/muster-dev/muster/internal/limit"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/signed"
	"github.com/muster-dev/muster/mail"
)

// SendStore is what sending needs from the database.
type SendStore interface {
	ClaimInvitations(ctx context.Context, ids []int64, lease time.Duration) (map[int64]*muster.Delivery, map[int64]error, error)
	ClaimBulk(ctx context.Context, n int, lease time.Duration) ([]*muster.Delivery, []muster.Cancelled, error)
	RecordOutcomes(ctx context.Context, outs []muster.Outcome) error
}

// Purposes of the signed tokens in links: a contractor's sign-up link and
// a manager's acceptance link. A token made for one is refused by the other.
const (
	SignupPurpose      = "signup"
	ManagerPurpose     = "manager"
	UnsubscribePurpose = "unsubscribe" // a reminder's one-click unsubscribe
)

// unsubscribeDays is how long a reminder's unsubscribe link works: well
// past the last reminder, since people unsubscribe from old emails too.
const unsubscribeDays = 400

// How long links stay valid, in days. An acceptance link grants access to
// a company's accounts, so it lives shorter than a sign-up link.
const (
	linkDays        = 14
	managerLinkDays = 7
)

// Sender is the handler of TypeSend, and the one place where a claimed
// row becomes a message and then an outcome, for single emails and bulk
// ones alike.
type Sender struct {
	Store    SendStore
	Mail     mail.Sender
	Render   *mail.Renderer
	Signer   *signed.Signer
	Sent     *SentLog // nil: no record in Redis of emails PostgreSQL has not heard of yet
	AppURL   string   // the platform's web app, for links
	Domain   string   // right-hand side of Message-IDs
	APIURL   string   // the API's public URL, for one-click unsubscribe links
	Attempts int      // SEND_ATTEMPTS
	Conns    int      // messages handed to Mail at once (its connections); default 1
	// RetryBase delays a bulk email's next attempt (doubled each time);
	// single emails wait for their task's retry instead.
	RetryBase time.Duration
	// OutcomeWindow is how long a sent email's outcome keeps being written
	// while PostgreSQL refuses it; default outcomeWindow.
	OutcomeWindow time.Duration
	Log           *slog.Logger
	Metrics       Recorder // nil: nothing recorded
	Now           func() time.Time

	// Recipients caps the emails one address gets (LIMIT_RECIPIENT; see
	// capRecipients); nil: no cap.
	Recipients RecipientLimiter
	// Behind, when set, has Process return as soon as SMTP took the email,
	// with its outcome written behind it and counted here (the worker waits
	// for these writes when it stops). nil: Process returns after the write.
	Behind *sync.WaitGroup

	single *singles // made at the first single send
}

// NewSender is the worker's Sender of single emails (invitations,
// resends, notices, reminders): one, so that invitation:send and
// reminder:send share its coalesced statements, over Deps.Mail.
func NewSender(d *Deps) *Sender {
	return once(d, func() *Sender {
		s := newSender(d, d.sendStore(), d.Mail)
		s.Behind = &d.settling
		return s
	})
}

// NewBatchSender is the worker's sender of the emails imports owe, over
// Deps.BulkMail and Deps.BulkStore: connections of their own.
func NewBatchSender(d *Deps) *BatchSender {
	return once(d, func() *BatchSender {
		return &BatchSender{Store: d.bulkStore(), Send: newSender(d, d.bulkStore(), d.BulkMail)}
	})
}

func newSender(d *Deps, db SendStore, m mail.Sender) *Sender {
	c := d.Config
	s := &Sender{
		Store: db, Mail: m, Render: d.Render, Signer: d.Signer, AppURL: c.AppURL, APIURL: c.PublicURL,
		Domain: mailDomain(c.MailFrom), Attempts: c.SendAttempts, Conns: c.SMTPConns, RetryBase: c.RetryBase,
		Log: d.Log, Now: d.now(), Metrics: d.Metrics,
	}
	if d.Redis != nil {
		// One log for both senders: its writes are coalesced across them.
		s.Sent = once(d, func() *SentLog { return NewSentLog(d.Redis) })
		s.Recipients = once(d, func() *limit.Limiter { return limit.New(d.Redis, c.Limits, d.Log) })
	}
	return s
}

// mailDomain ends Message-IDs: MAIL_FROM's domain.
func mailDomain(from string) string {
	if a, err := netmail.ParseAddress(from); err == nil {
		from = a.Address
	}
	_, domain, _ := strings.Cut(from, "@")
	return domain
}

// singles are the shared claim and outcome statements of single sends.
type singles struct {
	claims   *coalescer[int64, *muster.Delivery]
	outcomes *coalescer[[]muster.Outcome, struct{}]
}

var singlesMu sync.Mutex // guards Sender.single; a Sender may be copied before use

func (s *Sender) singles() *singles {
	singlesMu.Lock()
	defer singlesMu.Unlock()
	if s.single == nil {
		s.single = &singles{
			claims:   &coalescer[int64, *muster.Delivery]{run: s.claimMany},
			outcomes: &coalescer[[]muster.Outcome, struct{}]{run: s.recordMany},
		}
	}
	return s.single
}

// claimMany claims the invitations of concurrent single sends in one
// statement. Two requests for one invitation (a task delivered twice) get
// it once: the other finds it claimed.
func (s *Sender) claimMany(ctx context.Context, ids []int64) ([]*muster.Delivery, []error) {
	out, errs := make([]*muster.Delivery, len(ids)), make([]error, len(ids))
	got, why, err := s.Store.ClaimInvitations(ctx, ids, sendLease)
	given := map[int64]bool{}
	for i, id := range ids {
		switch {
		case err != nil:
			errs[i] = err
		case given[id]:
			errs[i] = muster.ErrClaimed
		case why[id] != nil:
			errs[i] = why[id]
		default:
			out[i], given[id] = got[id], true
		}
	}
	return out, errs
}

// recordMany writes the outcomes of concurrent single sends in one
// statement.
func (s *Sender) recordMany(ctx context.Context, sets [][]muster.Outcome) ([]struct{}, []error) {
	var all []muster.Outcome
	for _, set := range sets {
		all = append(all, set...)
	}
	return shared[struct{}](len(sets), s.Store.RecordOutcomes(ctx, all))
}

// Process sends one invitation: claim it in PostgreSQL, render it in its
// language, hand it to SMTP, record the outcome. A delivery of a task whose
// email already went out does nothing.
func (s *Sender) Process(ctx context.Context, args SendArgs) error {
	single := s.singles()
	d, err := single.claims.do(args.InvitationID)
	var c *muster.Cancelled
	if errors.As(err, &c) {
		recorder(s.Metrics).Email(c.Kind, string(c.Locale), OutcomeCancelled)
	}
	if stop, res := claimed(err, "invitation", args.InvitationID); stop {
		return res
	}
	outs, recorded := s.sendAll(ctx, []*muster.Delivery{d}, lastAttempt(ctx))
	out := outs[0]
	if out.Status == muster.SendSent && s.Behind != nil {
		// Nothing is left to decide: the handler's slot goes to the next
		// task instead of waiting for the shared outcome statement. Until
		// the outcome is in, the lease and then the Redis record keep the
		// email from going out again (settle keeps trying past the lease).
		s.Behind.Go(func() {
			if err := s.settle(ctx, outs, recorded, single.outcomes); err != nil {
				s.Log.Error("cannot record a sent email; its Redis record has the next claim mark it sent", "invitation", out.InvitationID, "error", err)
			}
		})
		return nil
	}
	if err := s.settle(ctx, outs, recorded, single.outcomes); err != nil {
		return err
	}
	if out.Postponed {
		return postpone(out)
	}
	switch out.Status {
	case muster.SendFailed:
		return permanent(fmt.Errorf("invitation %d failed after %d attempts: %s", out.InvitationID, out.Attempt, out.Error))
	case muster.SendRetrying:
		return fmt.Errorf("invitation %d attempt %d: %s", out.InvitationID, out.Attempt, out.Error)
	}
	return nil
}

// Remind sends one reminder, as Process sends any email.
func (s *Sender) Remind(ctx context.Context, args RemindSendArgs) error {
	return s.Process(ctx, SendArgs(args))
}

// sendAll sends claimed emails concurrently, as many at once as Mail has
// connections. last: no attempt follows this one, so a failure is final.
// Each accepted email's record in Redis is written as soon as SMTP takes
// it, alongside the rest; recorded waits for those writes.
func (s *Sender) sendAll(ctx context.Context, ds []*muster.Delivery, last bool) (outs []muster.Outcome, recorded func()) {
	var again []int64 // claimed before: an earlier attempt may have gone out
	for _, d := range ds {
		if d.Invitation.Attempts > 1 {
			again = append(again, d.Invitation.ID)
		}
	}
	sent, err := s.Sent.Lookup(ctx, again)
	if err != nil {
		// Without Redis the leases still keep the exactly-once rule while
		// PostgreSQL is up; only its outage has no second line then.
		s.Log.Warn("cannot check Redis for emails sent but not recorded", "error", err)
	}
	ds, capped := s.capRecipients(ctx, ds, sent)
	outs = make([]muster.Outcome, len(ds))
	start, rec := time.Now(), recorder(s.Metrics)
	var wg, adds sync.WaitGroup
	var next atomic.Int64
	// One goroutine per connection, each taking the next email in turn: a
	// goroutine per email would grow a new stack through go-mail's deep
	// calls each time (4% of the worker's CPU on loopback).
	for range min(max(s.Conns, 1), len(ds)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(ds); i = int(next.Add(1) - 1) {
				d := ds[i]
				outs[i] = s.deliver(ctx, d, sent[d.Invitation.ID], last, &adds)
				inv := d.Invitation
				if outs[i].Status == muster.SendSent && sent[inv.ID] == "" {
					rec.SendLatency(inv.Kind, time.Since(start))
				}
				rec.Email(inv.Kind, string(inv.Locale), outcomes[outs[i].Status])
			}
		})
	}
	wg.Wait()
	return capped(outs), adds.Wait
}

// deliver turns one claimed row into a message, hands it to SMTP and says
// what became of it. sentAs is the Message-ID of an earlier attempt SMTP
// accepted without PostgreSQL hearing of it: that email is not sent again.
// The Redis record of an accepted email is written in adds.
func (s *Sender) deliver(ctx context.Context, d *muster.Delivery, sentAs string, last bool, adds *sync.WaitGroup) muster.Outcome {
	inv := d.Invitation
	out := muster.Outcome{InvitationID: inv.ID, Attempt: inv.Attempts}
	if sentAs != "" {
		out.Status, out.MessageID, out.At = muster.SendSent, sentAs, s.Now()
		return out
	}
	msg, err := s.message(d)
	if err == nil {
		err = s.Mail.Send(ctx, msg)
	}
	if err == nil {
		out.Status, out.MessageID, out.At = muster.SendSent, msg.MessageID, s.Now()
		// Written at once, so that a worker killed from now on leaves it
		// behind; not waited for here, since it only matters if the
		// outcome cannot be written, and settle waits for it then.
		adds.Go(func() {
			// Even when the task's context ends first: the email went out.
			if err := s.Sent.Add(context.WithoutCancel(ctx), inv.ID, msg.MessageID); err != nil {
				s.Log.Warn("cannot record in Redis that an email was sent", "invitation", inv.ID, "error", err)
			}
		})
		return out
	}
	out.Error = err.Error()
	recorder(s.Metrics).EmailError(inv.Kind, mail.Reason(err))
	if mail.IsPermanent(err) || inv.Attempts >= s.Attempts || last {
		out.Status = muster.SendFailed
		s.Log.Warn("invitation failed", "invitation", inv.ID, "attempts", inv.Attempts, "error", err)
		return out
	}
	out.Status = muster.SendRetrying
	base := s.RetryBase
	if base <= 0 {
		base = 10 * time.Second
	}
	out.RetryAt = s.Now().Add(backoff(base)(inv.Attempts-1, err, nil))
	return out
}

// outcomes names each recorded status as the email metrics count it.
var outcomes = map[string]string{
	muster.SendSent:     OutcomeSent,
	muster.SendRetrying: OutcomeRetried,
	muster.SendFailed:   OutcomeFailed,
}

// outcomeWindow is how long a sent email's outcome keeps being written
// while PostgreSQL refuses it: past the lease, since the Redis record
// keeps another claimer from sending the email again meanwhile.
const outcomeWindow = sendLease + time.Minute

// settle records outcomes, even when the worker is stopping (or the lease
// would hide a sent email until it ran out). While PostgreSQL is away it
// keeps trying for outcomeWindow when an email went out; then the Redis
// record has the next claimer mark it sent instead of sending it.
// Single sends write through shared, one statement for all those that
// wait together; bulk sets, nil, write on their own.
func (s *Sender) settle(ctx context.Context, outs []muster.Outcome, recorded func(), shared *coalescer[[]muster.Outcome, struct{}]) error {
	ctx = context.WithoutCancel(ctx)
	var sent []int64
	for _, o := range outs {
		if o.Status == muster.SendSent {
			sent = append(sent, o.InvitationID)
		}
	}
	window := s.OutcomeWindow
	if window <= 0 {
		window = outcomeWindow
	}
	give := time.Now().Add(window)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		var err error
		if shared != nil {
			_, err = shared.do(outs)
		} else {
			tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = s.Store.RecordOutcomes(tctx, outs)
			cancel()
		}
		// The Redis records went out with the sends: past here they are
		// written (or Redis is away too), before the lease can run out
		// and before Forget, which must come after them.
		recorded()
		if err == nil {
			if len(sent) > 0 {
				go func() { // off the send path; records left behind expire
					if err := s.Sent.Forget(ctx, sent); err != nil {
						s.Log.Warn("cannot clear Redis records of sent emails", "error", err)
					}
				}()
			}
			return nil
		}
		if len(sent) == 0 || time.Now().Add(wait).After(give) {
			return err
		}
		s.Log.Warn("cannot record sent emails yet; trying again", "emails", len(sent), "in", wait, "error", err)
		time.Sleep(wait)
	}
}

func (s *Sender) message(d *muster.Delivery) (*mail.Message, error) {
	inv := d.Invitation
	id := strconv.FormatInt(inv.ID, 10)
	link, days := s.AppURL+"/login", linkDays
	switch inv.Kind {
	case muster.InviteAdded, muster.InviteMerged:
	case muster.InviteManager:
		days = managerLinkDays
		token := s.Signer.Sign(ManagerPurpose, id, time.Duration(days)*24*time.Hour)
		link = s.AppURL + "/managers/accept?" + url.Values{"token": {token}}.Encode()
	default:
		token := s.Signer.Sign(SignupPurpose, id, time.Duration(days)*24*time.Hour)
		link = s.AppURL + "/signup?" + url.Values{"invitation": {token}}.Encode()
	}
	data, err := mail.ForDelivery(d, link, days)
	if err != nil {
		return nil, &mail.PermanentError{Err: err}
	}
	content, err := s.Render.Render(inv.Locale, data)
	if err != nil {
		return nil, &mail.PermanentError{Err: err}
	}
	m := &mail.Message{
		To:        d.Email,
		ToName:    d.FullName,
		MessageID: "invitation-" + id + "@" + s.Domain,
		Content:   *content,
	}
	if inv.Kind == muster.InviteRemind && inv.MembershipID != nil {
		// RFC 8058: the mail client posts to this URL to stop reminders.
		token := s.Signer.Sign(UnsubscribePurpose, strconv.FormatInt(*inv.MembershipID, 10), unsubscribeDays*24*time.Hour)
		m.Unsubscribe = s.APIURL + "/v1/unsubscribe?" + url.Values{"token": {token}}.Encode()
	}
	return m, nil
}

// BatchStore is what sending a batch needs beyond SendStore.
type BatchStore interface {
	BatchUnsent(ctx context.Context, importID int64, batch int) (owed, held int, next time.Time, err error)
}

// BatchSender is the handler of TypeImportSend. Every batch task sends the
// emails imports owe, claimed a few at a time fairly across clients (see
// ClaimBulk), until none is left to claim; then it succeeds if its own
// batch is done, and retries after the backoff if some of it waits for
// another attempt. So a batch task of a small import that queued behind a
// large one finds its emails sent already.
type BatchSender struct {
	Store BatchStore
	Send  *Sender
}

// claimsPerConn sizes a bulk claim: enough emails per connection that the
// claim and the outcome statements, a few milliseconds each, are small
// beside the sending, even on loopback; few enough that a set is sent
// well within its lease on a slow relay.
const claimsPerConn = 16

// Process sends owed bulk emails until none can be claimed.
func (b *BatchSender) Process(ctx context.Context, args ImportSendArgs) error {
	last := lastAttempt(ctx)
	n := claimsPerConn * max(b.Send.Conns, 1)
	for ctx.Err() == nil {
		ds, cancelled, err := b.Send.Store.ClaimBulk(ctx, n, sendLease)
		if err != nil {
			return err
		}
		for _, c := range cancelled {
			recorder(b.Send.Metrics).Email(c.Kind, string(c.Locale), OutcomeCancelled)
		}
		if len(ds) == 0 && len(cancelled) == 0 {
			break
		}
		outs, recorded := b.Send.sendAll(ctx, ds, last)
		if err := b.Send.settle(ctx, outs, recorded, nil); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err // stopping: the rest go out when the task runs again
	}
	owed, held, next, err := b.Store.BatchUnsent(ctx, args.ImportID, args.Batch)
	switch {
	case err != nil:
		return err
	case owed > 0:
		// They wait for their next attempt (a refusal's backoff, a
		// recipient's cap), which they count themselves: come back then,
		// without spending the task's retries on the wait.
		if soon := time.Now().Add(time.Second); next.Before(soon) {
			next = soon
		}
		return &postponedError{
			why:   fmt.Sprintf("import %d batch %d: %d emails wait for their next attempt", args.ImportID, args.Batch, owed),
			until: next,
		}
	case held > 0:
		// Under another worker's lease, perhaps a dead one's: come back
		// soon, so that they go out as soon as the lease ends.
		return fmt.Errorf("import %d batch %d: %d emails: %w", args.ImportID, args.Batch, held, muster.ErrClaimed)
	}
	return nil
}

package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/signed"
	"github.com/muster-dev/muster/mail"
)

// SendStore is what sending needs from the database.
type SendStore interface {
	ClaimInvitation(ctx context.Context, id int64, lease time.Duration) (*muster.Delivery, error)
	MarkSent(ctx context.Context, id int64, attempt int, messageID string, at time.Time) error
	MarkFailed(ctx context.Context, id int64, attempt int, reason string, final bool) error
}

// Purposes of the signed tokens in links: a contractor's sign-up link and
// a manager's acceptance link. A token made for one is refused by the other.
const (
	SignupPurpose  = "signup"
	ManagerPurpose = "manager"
)

// How long links stay valid, in days. An acceptance link grants access to
// a company's accounts, so it lives shorter than a sign-up link.
const (
	linkDays        = 14
	managerLinkDays = 7
)

// Sender is the handler of TypeSend and TypeRemindSend.
type Sender struct {
	Store    SendStore
	Mail     mail.Sender
	Render   *mail.Renderer
	Signer   *signed.Signer
	AppURL   string // the platform's web app, for links
	Domain   string // right-hand side of Message-IDs
	Attempts int    // SEND_ATTEMPTS
	Log      *slog.Logger
	Now      func() time.Time
}

// Process sends one invitation: claim it in PostgreSQL, render it in its
// language, hand it to SMTP, record the outcome. A delivery of a task whose
// email already went out does nothing.
func (s *Sender) Process(ctx context.Context, args SendArgs) error {
	d, err := s.Store.ClaimInvitation(ctx, args.InvitationID, sendLease)
	if stop, res := claimed(err, "invitation", args.InvitationID); stop {
		return res
	}
	inv := d.Invitation
	msg, err := s.message(d)
	if err == nil {
		err = s.Mail.Send(ctx, msg)
	}
	// The outcome is recorded even when the worker is shutting down, or
	// the lease would hide a sent email until it ran out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err != nil {
		final := mail.IsPermanent(err) || inv.Attempts >= s.Attempts
		if merr := s.Store.MarkFailed(ctx, inv.ID, inv.Attempts, err.Error(), final); merr != nil {
			return errors.Join(err, merr)
		}
		if final {
			s.Log.Warn("invitation failed", "invitation", inv.ID, "attempts", inv.Attempts, "error", err)
			return permanent(fmt.Errorf("invitation %d failed after %d attempts: %w", inv.ID, inv.Attempts, err))
		}
		return fmt.Errorf("invitation %d attempt %d: %w", inv.ID, inv.Attempts, err)
	}
	return s.Store.MarkSent(ctx, inv.ID, inv.Attempts, msg.MessageID, s.Now())
}

// Remind sends one reminder, as Process sends any email.
func (s *Sender) Remind(ctx context.Context, args RemindSendArgs) error {
	return s.Process(ctx, SendArgs(args))
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
	return &mail.Message{
		To:        d.Email,
		ToName:    d.FullName,
		MessageID: "invitation-" + id + "@" + s.Domain,
		Content:   *content,
	}, nil
}

// BatchStore is what sending a batch needs beyond SendStore.
type BatchStore interface {
	BatchUnsent(ctx context.Context, importID int64, batch int) ([]int64, error)
}

// BatchSender is the handler of TypeImportSend: it sends each email still
// owed in the batch as Sender does. One that must be tried again (a
// temporary refusal, another worker's lease) makes the task retry after
// the backoff, for those alone: the others are sent by then.
type BatchSender struct {
	Store BatchStore
	Send  *Sender
}

// Process sends the batch's emails one after another.
func (b *BatchSender) Process(ctx context.Context, args ImportSendArgs) error {
	ids, err := b.Store.BatchUnsent(ctx, args.ImportID, args.Batch)
	if err != nil {
		return err
	}
	retry := 0
	var first error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err // stopping: the rest go out when the task runs again
		}
		err := b.Send.Process(ctx, SendArgs{InvitationID: id})
		if err != nil && !isPermanent(err) { // a final failure is recorded already
			retry++
			if first == nil {
				first = err
			}
		}
	}
	if retry > 0 {
		return fmt.Errorf("import %d batch %d: %d of %d emails to try again, the first: %w", args.ImportID, args.Batch, retry, len(ids), first)
	}
	return nil
}

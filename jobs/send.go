package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

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

// Sender is the handler of TypeSend.
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
	switch {
	case errors.Is(err, muster.ErrHandled):
		return nil
	case errors.Is(err, muster.ErrClaimed):
		return fmt.Errorf("invitation %d: %w", args.InvitationID, err) // retried after the backoff
	case muster.ErrorKind(err) == muster.KindNotFound:
		return fmt.Errorf("invitation %d: %w: %w", args.InvitationID, err, asynq.SkipRetry)
	case err != nil:
		return err
	}
	inv := d.Invitation
	msg, err := s.message(d)
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		err = s.Mail.Send(sctx, msg)
		cancel()
	}
	// The outcome is recorded even when the worker is shutting down, or
	// the lease would hide a sent email until it ran out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeTimeout)
	defer cancel()
	if err != nil {
		final := mail.IsPermanent(err) || inv.Attempts >= s.Attempts
		if merr := s.Store.MarkFailed(ctx, inv.ID, inv.Attempts, err.Error(), final); merr != nil {
			return errors.Join(err, merr)
		}
		if final {
			s.Log.Warn("invitation failed", "invitation", inv.ID, "attempts", inv.Attempts, "error", err)
			return fmt.Errorf("invitation %d failed after %d attempts: %w: %w", inv.ID, inv.Attempts, err, asynq.SkipRetry)
		}
		return fmt.Errorf("invitation %d attempt %d: %w", inv.ID, inv.Attempts, deliveryError{err})
	}
	return s.Store.MarkSent(ctx, inv.ID, inv.Attempts, msg.MessageID, s.Now())
}

// deliveryError is a failed attempt at handing an email to SMTP. Even when
// the SMTP server could not be reached it is no outage of ours: it takes
// the doubling backoff, since each attempt counts towards SEND_ATTEMPTS.
type deliveryError struct{ error }

func (e deliveryError) Unwrap() error { return e.error }

// template names the email of each invitation kind.
var template = map[string]string{
	muster.InviteSignup:  "invite",
	muster.InviteResend:  "resend",
	muster.InviteRemind:  "reminder",
	muster.InviteAdded:   "added",
	muster.InviteManager: "manager",
	muster.InviteMerged:  "merged",
}

func (s *Sender) message(d *muster.Delivery) (*mail.Message, error) {
	inv := d.Invitation
	name, ok := template[inv.Kind]
	if !ok {
		return nil, &mail.PermanentError{Err: fmt.Errorf("no email template for invitation kind %q", inv.Kind)}
	}
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
	content, err := s.Render.Render(name, inv.Locale, map[string]any{
		"Name": d.FullName, "Email": d.Email, "Client": d.ClientName, "Account": d.AccountName,
		"Feature": d.Feature, "URL": link, "Days": days,
		"Accounts": d.AccountNames, "Role": d.Role, "Inviter": d.Inviter,
		"Audience": d.Audience, "Sources": strings.Join(d.Sources, ", "),
	})
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

// TypeImportSend sends the emails of one batch of an import.
const TypeImportSend = "import:send"

// ImportSendArgs: send the emails of batch Batch (its last line) of an
// import. The batch, not a list of ids, travels in the task: PostgreSQL
// says which of its emails are still owed when the task runs.
type ImportSendArgs struct {
	ImportID int64 `json:"import_id"`
	Batch    int   `json:"batch"`
}

func (ImportSendArgs) Kind() string { return TypeImportSend }

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
		if err != nil && !errors.Is(err, asynq.SkipRetry) { // a final failure is recorded already
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

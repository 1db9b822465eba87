package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/workbook"
	"github.com/muster-dev/muster/jobs"
)

// StoreActions carry out the console's actions with the store and queue
// calls the JSON API's handlers make, in their order (record, then
// enqueue), until both call one application layer.
type StoreActions struct {
	Store interface {
		Invite(ctx context.Context, in muster.Invite) (*muster.Invited, error)
		Resend(ctx context.Context, accountID, contractorID int64, interval time.Duration) (*muster.Invitation, error)
		Exclude(ctx context.Context, accountID, contractorID int64) (*muster.Membership, error)
		CreateImport(ctx context.Context, up muster.Upload, file io.Reader) (*muster.Import, bool, error)
		InviteManager(ctx context.Context, in muster.ManagerInvite) (*muster.Manager, *muster.Invitation, error)
		ResendManagerInvitation(ctx context.Context, managerID int64) (*muster.Invitation, error)
		UpdateManager(ctx context.Context, e muster.ManagerEdit) (*muster.Manager, error)
		CreateMerge(ctx context.Context, req muster.MergeRequest, by muster.Actor) (*muster.Merge, bool, error)
	}
	Queue interface {
		Send(ctx context.Context, invitationID int64, queue string) error
		Import(ctx context.Context, importID int64) error
		Merge(ctx context.Context, mergeID int64) error
	}
	ResendInterval time.Duration
	Limits         workbook.Limits
	Log            *slog.Logger
}

// Invite records the invitation and queues its email.
func (a StoreActions) Invite(ctx context.Context, in muster.Invite) (*muster.Invited, error) {
	res, err := a.Store.Invite(ctx, in)
	if err != nil {
		return nil, err
	}
	a.enqueue(ctx, res.Invitation.ID)
	return res, nil
}

// Resend queues the sign-up invitation again, unless too soon.
func (a StoreActions) Resend(ctx context.Context, accountID, contractorID int64) (*muster.Invitation, error) {
	inv, err := a.Store.Resend(ctx, accountID, contractorID, a.ResendInterval)
	if err != nil {
		return nil, err
	}
	a.enqueue(ctx, inv.ID)
	return inv, nil
}

// Exclude takes a contractor out of the account.
func (a StoreActions) Exclude(ctx context.Context, accountID, contractorID int64) (*muster.Membership, error) {
	return a.Store.Exclude(ctx, accountID, contractorID)
}

// enqueue: a failure is not the caller's; the requeue sweep sends later.
func (a StoreActions) enqueue(ctx context.Context, id int64) {
	if err := a.Queue.Send(ctx, id, jobs.QueueCritical); err != nil {
		a.Log.Warn("enqueue failed; the requeue sweep will retry", "invitation", id, "error", err)
	}
}

// Upload checks and stores an uploaded file and queues its import, as the
// API's upload does.
func (a StoreActions) Upload(ctx context.Context, accountID, tokenID int64, fileName string, file io.Reader) (*muster.Import, bool, error) {
	lim := a.Limits.OrDefaults()
	name := "upload"
	if n, err := muster.CleanLine("file_name", filepath.Base(strings.ReplaceAll(fileName, `\`, "/")), muster.MaxNameLen); err == nil && n != "" && n != "." {
		name = n
	}
	tmp, err := os.CreateTemp("", "muster-upload-")
	if err != nil {
		return nil, false, fmt.Errorf("upload: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(file, lim.MaxBytes+1))
	if err != nil {
		return nil, false, muster.Invalid("invalid_upload", "the upload could not be read: %v", err)
	}
	if size > lim.MaxBytes {
		return nil, false, muster.Errorf(muster.KindTooLarge, "file_too_large", "the file is larger than the limit of %d bytes; split it into smaller files", lim.MaxBytes)
	}
	format, err := workbook.Detect(tmp, size, name, lim)
	if err != nil {
		return nil, false, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, false, fmt.Errorf("upload: %w", err)
	}
	im, existing, err := a.Store.CreateImport(ctx, muster.Upload{
		AccountID: accountID, TokenID: tokenID, FileName: name, Format: format, Size: size, SHA256: hex.EncodeToString(h.Sum(nil)),
	}, tmp)
	if err != nil {
		return nil, false, err
	}
	if !existing {
		if err := a.Queue.Import(ctx, im.ID); err != nil {
			a.Log.Warn("enqueue failed; the requeue sweep will retry", "import", im.ID, "error", err)
		}
	}
	return im, existing, nil
}

// InviteManager records a manager invited by by, who must reach every
// account given, and queues the one email that invites them.
func (a StoreActions) InviteManager(ctx context.Context, by muster.Actor, in muster.ManagerInvite) (*muster.Manager, *muster.Invitation, error) {
	if err := by.CheckReach(in.ClientID, in.AccountIDs); err != nil {
		return nil, nil, err
	}
	in.InvitedBy = by.ManagerID
	m, inv, err := a.Store.InviteManager(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	a.enqueue(ctx, inv.ID)
	return m, inv, nil
}

// ResendManager queues the invitation of a manager who has not accepted.
func (a StoreActions) ResendManager(ctx context.Context, managerID int64) (*muster.Invitation, error) {
	inv, err := a.Store.ResendManagerInvitation(ctx, managerID)
	if err != nil {
		return nil, err
	}
	a.enqueue(ctx, inv.ID)
	return inv, nil
}

// EditManager changes a manager's role or accounts as by sees them.
func (a StoreActions) EditManager(ctx context.Context, by muster.Actor, clientID int64, e muster.ManagerEdit) (*muster.Manager, error) {
	if err := by.CheckReach(clientID, e.AccountIDs); err != nil {
		return nil, err
	}
	e.Limited, e.Reach = by.Limited(), by.AccountIDs
	return a.Store.UpdateManager(ctx, e)
}

// Merge records a merge request and queues it; done reports a merge that
// was carried out before, and nothing is queued.
func (a StoreActions) Merge(ctx context.Context, req muster.MergeRequest, by muster.Actor) (*muster.Merge, bool, error) {
	m, done, err := a.Store.CreateMerge(ctx, req, by)
	if err != nil || done {
		return m, done, err
	}
	if err := a.Queue.Merge(ctx, m.ID); err != nil {
		a.Log.Warn("enqueue failed; the requeue sweep will retry", "merge", m.ID, "error", err)
	}
	return m, false, nil
}

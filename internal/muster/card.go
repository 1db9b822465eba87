package muster

import (
	"slices"
	"strings"
	"time"
)

// Card is a contractor as one account sees them: the global profile, the
// onboarding stages, the membership in this account (feature, notes,
// assigned managers), every email sent for it, and the tasks.
type Card struct {
	Contractor  Contractor   `json:"contractor"`
	Membership  Membership   `json:"membership"`
	Stages      []Stage      `json:"stages"`
	Incomplete  bool         `json:"incomplete"`
	Invitations []Invitation `json:"invitations"`
	Tasks       []Task       `json:"tasks"`
}

// Stage is one onboarding step and when it was reached (nil: not yet).
type Stage struct {
	Name string     `json:"name"`
	At   *time.Time `json:"at"`
}

// Incomplete reports the red icon: signed up, but phone verification or
// the tax status is missing.
func Incomplete(c *Contractor) bool {
	return c.RegisteredAt != nil && (c.PhoneVerifiedAt == nil || c.TaxStatus == nil)
}

// BuildStages lists the onboarding stages of a contractor in an account.
// The invitation is "sent" at its first successful email, or "failed" when
// every email so far failed or hard-bounced.
func BuildStages(c *Contractor, m *Membership, invs []Invitation) []Stage {
	invited := m.InvitedAt
	sent := Stage{Name: "invitation_sent"}
	failed := false
	for _, inv := range invs {
		switch {
		case inv.Status == SendFailed || inv.Status == SendBounced:
			failed = true
		case inv.SentAt != nil && (sent.At == nil || inv.SentAt.Before(*sent.At)):
			sent.At = inv.SentAt
		}
	}
	if sent.At == nil && failed {
		sent.Name = "invitation_failed"
	}
	return []Stage{
		{Name: "invited", At: &invited},
		sent,
		{Name: "registered", At: c.RegisteredAt},
		{Name: "phone_verified", At: c.PhoneVerifiedAt},
		{Name: "tax_status_set", At: c.TaxStatusSetAt},
		{Name: "payment_method_linked", At: c.PaymentMethodLinkedAt},
	}
}

// CardUpdate changes a card; nil fields stay as they are.
type CardUpdate struct {
	Feature    *string
	Notes      *string
	ManagerIDs *[]int64
}

// MaxNotesLen bounds the notes on a contractor's skills and traits.
const MaxNotesLen = 20000

// Clean validates the update in place.
func (u *CardUpdate) Clean() error {
	if u.Feature != nil {
		f, err := CleanText("feature", *u.Feature, MaxFeatureLen)
		if err != nil {
			return err
		}
		u.Feature = &f
	}
	if u.Notes != nil {
		n, err := CleanText("notes", *u.Notes, MaxNotesLen)
		if err != nil {
			return err
		}
		u.Notes = &n
	}
	if u.ManagerIDs != nil {
		ids, err := cleanIDs("manager_ids", *u.ManagerIDs)
		if err != nil {
			return err
		}
		u.ManagerIDs = &ids
	}
	if u.Feature == nil && u.Notes == nil && u.ManagerIDs == nil {
		return Invalid("empty_update", "nothing to change: send feature, notes or manager_ids")
	}
	return nil
}

// cleanIDs checks ids are positive and returns them sorted, without repeats.
func cleanIDs(field string, ids []int64) ([]int64, error) {
	for _, id := range ids {
		if id <= 0 {
			return nil, Invalid("invalid_"+field, "%s holds %d, which is not an id", field, id)
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(ids))), nil
}

// Task statuses and the moves between them.
const (
	TaskNew        = "new"
	TaskInProgress = "in_progress"
	TaskDone       = "done"
	TaskAccepted   = "accepted"
	TaskCancelled  = "cancelled"
)

var taskMoves = map[string][]string{
	TaskNew:        {TaskInProgress, TaskCancelled},
	TaskInProgress: {TaskDone, TaskCancelled},
	TaskDone:       {TaskAccepted, TaskInProgress}, // accepted, or sent back for rework
}

// TaskStatuses lists every task status.
var TaskStatuses = []string{TaskNew, TaskInProgress, TaskDone, TaskAccepted, TaskCancelled}

// TaskMoves lists the statuses a task may move to from status from.
func TaskMoves(from string) []string { return slices.Clone(taskMoves[from]) }

// CheckTaskMove says whether a task may go from one status to another.
func CheckTaskMove(from, to string) error {
	if !slices.Contains(taskMoves[from], to) {
		return Conflict("invalid_transition", "a task that is %s cannot become %s", from, to)
	}
	return nil
}

// Task is work for one contractor in one account, with its status history.
type Task struct {
	ID           int64       `db:"id" json:"id"`
	AccountID    int64       `db:"account_id" json:"account_id"`
	ContractorID int64       `db:"contractor_id" json:"contractor_id"`
	Title        string      `db:"title" json:"title"`
	Description  string      `db:"description" json:"description"`
	Status       string      `db:"status" json:"status"`
	CreatedAt    time.Time   `db:"created_at" json:"created_at"`
	UpdatedAt    time.Time   `db:"updated_at" json:"updated_at"`
	History      []TaskEvent `db:"-" json:"history"`
}

// TaskEvent is one status a task took, when, and by whom.
type TaskEvent struct {
	TaskID int64     `db:"task_id" json:"-"`
	Status string    `db:"status" json:"status"`
	At     time.Time `db:"at" json:"at"`
	Actor  string    `db:"actor" json:"actor"`
}

// MaxTitleLen bounds a task's title.
const MaxTitleLen = 300

// TaskUpdate changes a task; nil fields stay as they are.
type TaskUpdate struct {
	Title       *string
	Description *string
	Status      *string
}

// Clean validates the update in place; a new task is an update that sets
// a title.
func (u *TaskUpdate) Clean() error {
	if u.Title != nil {
		t, err := CleanLine("title", *u.Title, MaxTitleLen)
		if err != nil {
			return err
		}
		if t == "" {
			return Invalid("invalid_title", "title is empty")
		}
		u.Title = &t
	}
	if u.Description != nil {
		d, err := CleanText("description", *u.Description, MaxFeatureLen)
		if err != nil {
			return err
		}
		u.Description = &d
	}
	if u.Status != nil && !slices.Contains(TaskStatuses, *u.Status) {
		return Invalid("invalid_status", "status %q is not one of %s", *u.Status, strings.Join(TaskStatuses, ", "))
	}
	if u.Title == nil && u.Description == nil && u.Status == nil {
		return Invalid("empty_update", "nothing to change: send title, description or status")
	}
	return nil
}

package muster

import (
	"slices"
	"time"
)

// Merge states.
const (
	MergeQueued  = "queued"
	MergeRunning = "running"
	MergeDone    = "done"
	MergeFailed  = "failed"
)

// Merge is one request to merge dashboards, kept as an audit trail: who
// asked, when, the plan, and what moved.
type Merge struct {
	ID              int64      `db:"id" json:"id"`
	TargetClientID  int64      `db:"target_client_id" json:"target_client_id"`
	SourceClientIDs []int64    `db:"-" json:"source_client_ids"`
	DryRun          bool       `db:"dry_run" json:"dry_run"`
	Status          string     `db:"status" json:"status"`
	Step            string     `db:"step" json:"step"`
	Progress        int        `db:"progress" json:"progress"` // percent
	Plan            *MergePlan `db:"-" json:"plan"`
	Noop            bool       `db:"noop" json:"noop"`
	Error           string     `db:"error" json:"error,omitempty"`
	RequestedBy     string     `db:"requested_by" json:"requested_by"`
	CreatedAt       time.Time  `db:"created_at" json:"created_at"`
	StartedAt       *time.Time `db:"started_at" json:"started_at"`
	FinishedAt      *time.Time `db:"finished_at" json:"finished_at"`
}

// MergePlan is exactly what a merge does, or did: a dry run shows it
// without changing anything, and applying it records the same plan.
type MergePlan struct {
	Target    MergeClient     `json:"target"`
	Sources   []MergeClient   `json:"sources"`
	Accounts  []MergeAccount  `json:"accounts"`
	Managers  []MergeManager  `json:"managers"`
	Conflicts []MergeConflict `json:"conflicts"`
	// What moves with the accounts, untouched.
	Memberships int `json:"memberships"`
	Invitations int `json:"invitations"`
	Tasks       int `json:"tasks"`
	// Notices is how many people get an email about the merge.
	Notices int `json:"notices"`
}

// MergeClient names a dashboard in a plan.
type MergeClient struct {
	ID         int64  `db:"id" json:"id"`
	Name       string `db:"name" json:"name"`
	OwnerEmail string `db:"owner_email" json:"owner_email"`
}

// MergeAccount is an account that moves to the target dashboard.
type MergeAccount struct {
	ID           int64  `db:"id" json:"id"`
	Name         string `db:"name" json:"name"`
	FromClientID int64  `db:"client_id" json:"from_client_id"`
	// RenamedTo is the new name when the name is taken in the target.
	RenamedTo string `db:"-" json:"renamed_to,omitempty"`
}

// Manager actions of a merge.
const (
	MergeMove   = "move"   // the manager moves with the access they had
	MergeRevoke = "revoke" // a source owner: the login loses access
)

// MergeManager is a manager of a source dashboard and what happens to them.
type MergeManager struct {
	ID           int64   `db:"id" json:"id"`
	Email        string  `db:"email" json:"email"`
	FullName     string  `db:"full_name" json:"full_name"`
	Role         string  `db:"role" json:"role"`
	Status       string  `db:"status" json:"status"`
	FromClientID int64   `db:"client_id" json:"from_client_id"`
	AccountIDs   []int64 `db:"-" json:"account_ids"`
	Action       string  `db:"-" json:"action"`
}

// MergeConflict is something a merge must decide, and how it decides it.
type MergeConflict struct {
	Kind       string `json:"kind"`
	Message    string `json:"message"`
	Resolution string `json:"resolution"`
}

// MergeRequest is a staff member's request: the target and the sources,
// each by id or by the owner's email, as the request comes in.
type MergeRequest struct {
	TargetClientID    int64
	TargetOwnerEmail  string
	SourceClientIDs   []int64
	SourceOwnerEmails []string
	DryRun            bool
}

// Clean validates the request's shape; the store resolves emails and
// checks the dashboards themselves.
func (r *MergeRequest) Clean() error {
	if r.TargetClientID == 0 && r.TargetOwnerEmail == "" {
		return Invalid("no_target", "give target_client_id or target_owner_email")
	}
	if r.TargetOwnerEmail != "" {
		e, err := NormalizeEmail("target_owner_email", r.TargetOwnerEmail)
		if err != nil {
			return err
		}
		r.TargetOwnerEmail = e
	}
	if len(r.SourceClientIDs) == 0 && len(r.SourceOwnerEmails) == 0 {
		return Invalid("no_sources", "give the dashboards to merge in source_client_ids or source_owner_emails")
	}
	for i, raw := range r.SourceOwnerEmails {
		e, err := NormalizeEmail("source_owner_emails", raw)
		if err != nil {
			return err
		}
		r.SourceOwnerEmails[i] = e
	}
	ids, err := cleanIDs("source_client_ids", r.SourceClientIDs)
	if err != nil {
		return err
	}
	r.SourceClientIDs = ids
	return nil
}

// CheckSources refuses a merge of a dashboard into itself and dedupes the
// sources once every email is resolved to an id.
func CheckSources(target int64, sources []int64) ([]int64, error) {
	sources = slices.Compact(slices.Sorted(slices.Values(sources)))
	if slices.Contains(sources, target) {
		return nil, Invalid("merge_into_itself", "client %d cannot be merged into itself", target)
	}
	return sources, nil
}

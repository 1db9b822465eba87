package actions

import (
	"context"

	"github.com/muster-dev/muster/internal/muster"
)

// AccountStore records dashboards, their accounts and the accounts' KYB
// decisions.
type AccountStore interface {
	CreateClient(ctx context.Context, in muster.ClientDraft) (*muster.Client, *muster.Account, error)
	CreateAccountFor(ctx context.Context, managerID, clientID int64, name string, basedOn *int64) (*muster.Account, error)
	DecideKYB(ctx context.Context, accountID int64, status string) (*muster.Account, error)
}

// NewClient is a dashboard as staff register it, unchecked.
type NewClient struct {
	Name, OwnerEmail, Locale, AccountName string
}

// MayCreateClient says whether by may create dashboards. Callers that read
// a request body ask first, so a refused caller is refused whatever it sent.
func MayCreateClient(by muster.Actor) error { return by.StaffOnly("create clients") }

// MayDecideKYB says whether by may record KYB decisions, as MayCreateClient.
func MayDecideKYB(by muster.Actor) error { return by.StaffOnly("record KYB decisions") }

// CreateClient registers a dashboard with its owner (the main profile) and
// its first account, as a company does when it signs up; staff only.
func (a *Actions) CreateClient(ctx context.Context, by muster.Actor, in NewClient) (*muster.Client, *muster.Account, error) {
	if err := MayCreateClient(by); err != nil {
		return nil, nil, err
	}
	draft, err := muster.NewClientDraft(in.Name, in.OwnerEmail, in.Locale, in.AccountName)
	if err != nil {
		return nil, nil, err
	}
	return a.accounts.CreateClient(ctx, draft)
}

// CreateAccount adds an account to a dashboard by may manage, from scratch
// or based on an account that passed KYB. A manager limited to some
// accounts is given the new one, or they could not see what they made.
func (a *Actions) CreateAccount(ctx context.Context, by muster.Actor, clientID int64, name string, basedOn *int64) (*muster.Account, error) {
	name, err := muster.AccountName(name)
	if err != nil {
		return nil, err
	}
	return a.accounts.CreateAccountFor(ctx, by.AccountGrantee(), clientID, name, basedOn)
}

// DecideKYB records the outcome of an account's KYB check, verified or
// rejected; staff only.
func (a *Actions) DecideKYB(ctx context.Context, by muster.Actor, accountID int64, status string) (*muster.Account, error) {
	if err := MayDecideKYB(by); err != nil {
		return nil, err
	}
	status, err := muster.ParseKYBDecision(status)
	if err != nil {
		return nil, err
	}
	return a.accounts.DecideKYB(ctx, accountID, status)
}

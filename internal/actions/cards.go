package actions

import (
	"context"

	"github.com/muster-dev/muster/internal/muster"
)

// CardStore changes a contractor's card in an account and its tasks.
type CardStore interface {
	UpdateCard(ctx context.Context, accountID, contractorID int64, u muster.CardUpdate) error
	CreateTask(ctx context.Context, accountID, contractorID int64, title, description, actor string) (*muster.Task, error)
	UpdateTask(ctx context.Context, accountID, taskID int64, u muster.TaskUpdate, actor string) (*muster.Task, error)
}

// UpdateCard changes the fields of a contractor's card that u sets.
func (a *Actions) UpdateCard(ctx context.Context, accountID, contractorID int64, u muster.CardUpdate) error {
	if err := u.Clean(); err != nil {
		return err
	}
	return a.cards.UpdateCard(ctx, accountID, contractorID, u)
}

// CreateTask gives a contractor of the account a task; its history names by.
func (a *Actions) CreateTask(ctx context.Context, by muster.Actor, accountID, contractorID int64, title, description string) (*muster.Task, error) {
	u := muster.TaskUpdate{Title: &title, Description: &description}
	if err := u.Clean(); err != nil {
		return nil, err
	}
	return a.cards.CreateTask(ctx, accountID, contractorID, *u.Title, *u.Description, by.Name)
}

// UpdateTask changes a task of the account (its title, description or
// status); its history names by.
func (a *Actions) UpdateTask(ctx context.Context, by muster.Actor, accountID, taskID int64, u muster.TaskUpdate) (*muster.Task, error) {
	if err := u.Clean(); err != nil {
		return nil, err
	}
	return a.cards.UpdateTask(ctx, accountID, taskID, u, by.Name)
}

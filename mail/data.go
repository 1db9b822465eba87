package mail

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/muster-dev/muster/internal/muster"
)

// Data is what one kind of email needs: its type names the template, and
// its fields are all the template and its strings may use. Templates run
// with missingkey=error, so a name a template uses and the type lacks
// fails the render instead of writing "<no value>".
type Data interface{ Template() string }

// To is whom every email greets.
type To struct {
	Name  string // "" greets without a name
	Email string
}

// Invite asks a contractor to sign up and join an account.
type Invite struct {
	To
	Client, Account string
	Feature         string // the client's notes for the contractor; user text
	URL             string // the signed sign-up link
	Days            int    // how long the link is valid
}

// Resend is the sign-up invitation sent again on request.
type Resend Invite

// Reminder is the sign-up invitation sent again on schedule.
type Reminder Invite

// Added tells a registered contractor they were linked to another account.
type Added struct {
	To
	Client, Account string
	Feature         string
	URL             string // the platform's login page
}

// Manager invites a manager to the accounts of a dashboard.
type Manager struct {
	To
	Client   string
	Accounts []string // every account the manager will reach, by name
	Role     string
	Inviter  string // the inviting manager; "" for the dashboard itself
	URL      string // the signed acceptance link
	Days     int
}

// Merged tells one reader what a dashboard merge did for them.
type Merged struct {
	To
	Client   string   // the dashboard the others were merged into
	Audience string   // muster.Audience…: which of the three letters
	Accounts []string // the accounts that concern the reader, new names
	Sources  string   // the dashboards merged away, joined with ", "
	URL      string
}

// Signin is a one-time link that signs a manager in to the console.
type Signin struct {
	To
	URL     string // the signed, single-use link
	Minutes int    // how long it works
}

func (Invite) Template() string   { return "invite" }
func (Resend) Template() string   { return "resend" }
func (Reminder) Template() string { return "reminder" }
func (Added) Template() string    { return "added" }
func (Manager) Template() string  { return "manager" }
func (Merged) Template() string   { return "merged" }
func (Signin) Template() string   { return "signin" }

// Kinds lists one value of every kind, for tests that must cover them all.
var Kinds = []Data{Invite{}, Resend{}, Reminder{}, Added{}, Manager{}, Merged{}, Signin{}}

// ForDelivery is the data of the email an invitation sends, by its kind;
// url is its link and days how long that link is valid.
func ForDelivery(d *muster.Delivery, url string, days int) (Data, error) {
	to := To{Name: d.FullName, Email: d.Email}
	inv := Invite{To: to, Client: d.ClientName, Account: d.AccountName, Feature: d.Feature, URL: url, Days: days}
	switch d.Invitation.Kind {
	case muster.InviteSignup:
		return inv, nil
	case muster.InviteResend:
		return Resend(inv), nil
	case muster.InviteRemind:
		return Reminder(inv), nil
	case muster.InviteAdded:
		return Added{To: to, Client: d.ClientName, Account: d.AccountName, Feature: d.Feature, URL: url}, nil
	case muster.InviteManager:
		return Manager{To: to, Client: d.ClientName, Accounts: d.AccountNames, Role: d.Role, Inviter: d.Inviter, URL: url, Days: days}, nil
	case muster.InviteMerged:
		return Merged{To: to, Client: d.ClientName, Audience: d.Audience, Accounts: d.AccountNames,
			Sources: strings.Join(d.Sources, ", "), URL: url}, nil
	}
	return nil, fmt.Errorf("no email for invitation kind %q", d.Invitation.Kind)
}

// fields flattens d's exported fields (embedded structs' too) into the map
// templates and strings read; the map holds every field, so only a name
// the type lacks is missing.
func fields(d Data) map[string]any {
	out := map[string]any{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			switch {
			case f.Anonymous && f.Type.Kind() == reflect.Struct:
				walk(v.Field(i))
			case f.IsExported():
				out[f.Name] = v.Field(i).Interface()
			}
		}
	}
	walk(reflect.ValueOf(d))
	return out
}

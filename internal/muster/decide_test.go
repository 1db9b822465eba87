package muster

import (
	"reflect"
	"testing"
	"time"
)

func TestJoinFor(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		c    Contractor
		want Join
	}{
		{"new contractor: sign up", Contractor{}, Join{Status: MemberInvited, Kind: InviteSignup}},
		{"registered: linked at once, told so", Contractor{RegisteredAt: &at}, Join{Status: MemberActive, Kind: InviteAdded, Linked: true}},
	} {
		if got := JoinFor(tc.c); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestRejoin(t *testing.T) {
	for _, tc := range []struct {
		status string
		code   string
	}{
		{MemberExcluded, ""},
		{MemberInvited, "already_member"},
		{MemberActive, "already_member"},
	} {
		err := Rejoin("anna@example.test", 3, Membership{Status: tc.status})
		if (tc.code == "") != (err == nil) || (err != nil && ErrorCode(err) != tc.code) {
			t.Errorf("rejoin from %s: %v, want code %q", tc.status, err, tc.code)
		}
	}
}

func TestCancelReasons(t *testing.T) {
	for _, tc := range []struct {
		kind, member string
		registered   bool
		want         string
	}{
		{InviteSignup, MemberInvited, false, ""},
		{InviteSignup, MemberInvited, true, "the contractor registered before it was sent"},
		{InviteResend, MemberInvited, true, "the contractor registered before it was sent"},
		{InviteRemind, MemberInvited, true, "the contractor registered before it was sent"},
		{InviteAdded, MemberActive, true, ""},
		{InviteSignup, MemberExcluded, false, "the contractor was excluded from the account"},
		{InviteAdded, MemberExcluded, true, "the contractor was excluded from the account"},
	} {
		if got := ContractorCancel(tc.kind, tc.member, tc.registered, false); got != tc.want {
			t.Errorf("%s to a %s contractor (registered %v): %q, want %q", tc.kind, tc.member, tc.registered, got, tc.want)
		}
	}
	if got := ContractorCancel(InviteRemind, MemberInvited, false, true); got != "the contractor unsubscribed from reminders" {
		t.Errorf("a reminder after unsubscribing: %q", got)
	}
	if got := ContractorCancel(InviteResend, MemberInvited, false, true); got != "" {
		t.Errorf("a resend after unsubscribing from reminders: %q", got)
	}
	for status, want := range map[string]string{
		ManagerInvited: "",
		ManagerActive:  "the manager accepted an earlier invitation",
		ManagerRevoked: "the manager was revoked",
	} {
		if got := ManagerCancel(status); got != want {
			t.Errorf("manager %s: %q, want %q", status, got, want)
		}
	}
}

func TestReminderDue(t *testing.T) {
	invited := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	schedule := []time.Duration{72 * time.Hour, 168 * time.Hour}
	for _, tc := range []struct {
		name         string
		member, send string
		sent         int
		after        time.Duration
		step         int
	}{
		{"too early", MemberInvited, SendSent, 0, 71 * time.Hour, 0},
		{"first due, to the second", MemberInvited, SendSent, 0, 72 * time.Hour, 1},
		{"first done, second not yet", MemberInvited, SendSent, 1, 100 * time.Hour, 0},
		{"second due", MemberInvited, SendSent, 1, 168 * time.Hour, 2},
		{"a late sweep sends the next step only", MemberInvited, SendSent, 0, 400 * time.Hour, 1},
		{"schedule done", MemberInvited, SendSent, 2, 1000 * time.Hour, 0},
		{"registered", MemberActive, SendSent, 0, 100 * time.Hour, 0},
		{"excluded", MemberExcluded, SendSent, 0, 100 * time.Hour, 0},
		{"invitation not delivered yet", MemberInvited, SendRetrying, 0, 100 * time.Hour, 0},
		{"invitation failed", MemberInvited, SendFailed, 0, 100 * time.Hour, 0},
	} {
		step, due := ReminderDue(tc.member, tc.send, false, invited, tc.sent, invited.Add(tc.after), schedule)
		if step != tc.step || due != (tc.step > 0) {
			t.Errorf("%s: step %d due %v, want step %d", tc.name, step, due, tc.step)
		}
	}
	if _, due := ReminderDue(MemberInvited, SendSent, true, invited, 0, invited.Add(1000*time.Hour), schedule); due {
		t.Error("a reminder after unsubscribing")
	}
	if _, due := ReminderDue(MemberInvited, SendSent, false, invited, 0, invited.Add(1000*time.Hour), nil); due {
		t.Error("no schedule: no reminders")
	}
}

func TestPlanMerge(t *testing.T) {
	target := MergeClient{ID: 1, Name: "Ромашка", OwnerEmail: "boss@r.test"}
	src2 := MergeClient{ID: 2, Name: "Ромашка-2", OwnerEmail: "two@r.test"}
	src3 := MergeClient{ID: 3, Name: "Ромашка-3", OwnerEmail: "three@r.test"}
	st := MergeState{
		Target: target, Sources: []MergeClient{src2, src3},
		Accounts: []MergeAccount{
			{ID: 20, Name: "Дизайн", FromClientID: 2},
			{ID: 21, Name: "Склад", FromClientID: 2},
			{ID: 30, Name: "дизайн", FromClientID: 3}, // names compare without case
		},
		TargetAccounts: []string{"ДИЗАЙН", "Маркетинг"},
		Managers: []MergeManager{
			{ID: 200, Email: "two@r.test", Role: RoleOwner, Status: ManagerActive, FromClientID: 2},
			{ID: 201, Email: "olga@r.test", FullName: "Ольга", Role: RoleAdmin, Status: ManagerActive, FromClientID: 2, AccountIDs: []int64{20}},
			{ID: 202, Email: "ivan@r.test", FullName: "Иван", Role: RoleManager, Status: ManagerInvited, FromClientID: 2, AccountIDs: []int64{21}},
			{ID: 300, Email: "three@r.test", Role: RoleOwner, Status: ManagerActive, FromClientID: 3},
		},
		TargetManagers: []MergeManager{
			{ID: 100, Email: "boss@r.test", Role: RoleOwner},
			{ID: 101, Email: "olga2@r.test", FullName: "ольга", Role: RoleViewer},
		},
		Running:     &Merge{ID: 9, TargetClientID: 3},
		Memberships: 5, Invitations: 7, Tasks: 2,
	}
	p := PlanMerge(st)
	renamed := map[int64]string{}
	for _, a := range p.Accounts {
		renamed[a.ID] = a.RenamedTo
	}
	if want := map[int64]string{20: "Дизайн (Ромашка-2)", 21: "", 30: "дизайн (Ромашка-3)"}; !reflect.DeepEqual(renamed, want) {
		t.Errorf("renames %v, want %v", renamed, want)
	}
	actions := map[int64]string{}
	for _, m := range p.Managers {
		actions[m.ID] = m.Action
	}
	if want := map[int64]string{200: MergeRevoke, 201: MergeMove, 202: MergeMove, 300: MergeRevoke}; !reflect.DeepEqual(actions, want) {
		t.Errorf("manager actions %v, want %v", actions, want)
	}
	if !reflect.DeepEqual(p.ManagersTo(MergeRevoke), []int64{200, 300}) {
		t.Errorf("revoked %v", p.ManagersTo(MergeRevoke))
	}
	// The target's owner, two source owners and the active admin; the
	// manager who has not accepted gets no notice.
	if p.Notices != 4 {
		t.Errorf("notices %d, want 4", p.Notices)
	}
	kinds := map[string]int{}
	for _, c := range p.Conflicts {
		kinds[c.Kind]++
	}
	if want := map[string]int{"account_name_taken": 2, "pending_manager_invitation": 1, "same_name_manager": 1, "source_is_merge_target": 1}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("conflicts %v, want %v", kinds, want)
	}
	if p.Memberships != 5 || p.Invitations != 7 || p.Tasks != 2 {
		t.Errorf("counts %d %d %d", p.Memberships, p.Invitations, p.Tasks)
	}
	if st.Accounts[0].RenamedTo != "" || st.Managers[0].Action != "" {
		t.Error("PlanMerge changed the state it was given")
	}

	// A second clash with the same source counts up.
	p = PlanMerge(MergeState{Target: target, Sources: []MergeClient{src2},
		Accounts:       []MergeAccount{{ID: 20, Name: "A", FromClientID: 2}},
		TargetAccounts: []string{"A", "A (Ромашка-2)"}})
	if p.Accounts[0].RenamedTo != "A (Ромашка-2 2)" || p.Notices != 1 || len(p.Conflicts) != 1 {
		t.Errorf("second clash: %+v", p)
	}
}

func TestMergeNotice(t *testing.T) {
	p := &MergePlan{
		Target:  MergeClient{ID: 1, Name: "Ромашка", OwnerEmail: "boss@r.test"},
		Sources: []MergeClient{{ID: 2, Name: "Два", OwnerEmail: "two@r.test"}, {ID: 3, Name: "Три", OwnerEmail: "three@r.test"}},
		Accounts: []MergeAccount{
			{ID: 20, Name: "Дизайн", FromClientID: 2, RenamedTo: "Дизайн (Два)"},
			{ID: 30, Name: "Склад", FromClientID: 3},
		},
		Managers: []MergeManager{{ID: 201, Email: "olga@r.test", AccountIDs: []int64{30}}},
	}
	for _, tc := range []struct {
		email, role string
		audience    string
		sources     []string
		accounts    []string
	}{
		{"boss@r.test", RoleOwner, AudienceTargetOwner, []string{"Два", "Три"}, []string{"Дизайн (Два)", "Склад"}},
		{"two@r.test", RoleOwner, AudienceSourceOwner, []string{"Два"}, []string{"Дизайн (Два)"}},
		{"olga@r.test", RoleAdmin, AudienceManager, []string{"Два", "Три"}, []string{"Склад"}},
	} {
		audience, sources, accounts := MergeNotice(p, tc.email, tc.role)
		if audience != tc.audience || !reflect.DeepEqual(sources, tc.sources) || !reflect.DeepEqual(accounts, tc.accounts) {
			t.Errorf("%s: %s %v %v, want %s %v %v", tc.email, audience, sources, accounts, tc.audience, tc.sources, tc.accounts)
		}
	}
}

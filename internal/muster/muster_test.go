package muster

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"anna@example.com":           "anna@example.com",
		"  Anna.Smith@Example.COM  ": "anna.smith@example.com",
		"a+tag@sub.example.co.uk":    "a+tag@sub.example.co.uk",
		"иван@пример.рф":             "иван@пример.рф",
	}
	for in, want := range good {
		got, err := NormalizeEmail("email", in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{"", "   ", "anna", "anna@", "@example.com", "anna@example", "anna@.example.com",
		"anna@example..com", "Anna <anna@example.com>", "a@b.com, c@d.com", "a@b.com\r\nBcc: x@y.com",
		"a b@example.com", strings.Repeat("a", 250) + "@example.com"}
	for _, in := range bad {
		if got, err := NormalizeEmail("email", in); err == nil {
			t.Errorf("NormalizeEmail(%q) = %q, want an error", in, got)
		} else if ErrorCode(err) != "invalid_email" || !strings.Contains(err.Error(), "email") {
			t.Errorf("NormalizeEmail(%q): error %v should be invalid_email naming the field", in, err)
		}
	}
}

// Invisible and bidirectional characters, address literals, invalid UTF-8
// and NULs are refused with the field's name; IDN keeps working.
func TestHostileText(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"vic\u200btim@example.com", // zero-width space
		"victim@exa\u200dmple.com", // zero-width joiner
		"\u202emoc.elpmaxe@mitciv", // right-to-left override
		"x@[127.0.0.1]",
		"x@[IPv6:::1]",
		"anna\xff@example.com",
		"anna\x00@example.com",
		"anna@example.com\ufeff",
	} {
		_, err := NormalizeEmail("owner_email", in)
		if ErrorCode(err) != "invalid_email" || !strings.Contains(err.Error(), "owner_email") {
			t.Errorf("NormalizeEmail(%q) = %v; want invalid_email naming owner_email", in, err)
		}
	}
	for _, in := range []string{"Victor\u202e", "Vic\u200btor", "Vi\x00ctor", "Vic\xfftor", "\u2066Victor\u2069"} {
		_, err := CleanLine("full_name", in, MaxNameLen)
		if ErrorCode(err) != "invalid_full_name" || !strings.Contains(err.Error(), "full_name") {
			t.Errorf("CleanLine(%q) = %v; want invalid_full_name", in, err)
		}
	}
	for _, in := range []string{"note\u202e", "no\x00te", "no\xfete"} {
		if _, err := CleanText("notes", in, 100); ErrorCode(err) != "invalid_notes" {
			t.Errorf("CleanText(%q) = %v; want invalid_notes", in, err)
		}
	}
	// What people really type stays: IDN, emoji with joiners in notes,
	// a typed replacement character.
	if got, err := NormalizeEmail("email", "Иван@Пример.РФ"); err != nil || got != "иван@пример.рф" {
		t.Errorf("IDN: %q, %v", got, err)
	}
	if _, err := NormalizeEmail("email", "anna@xn--e1afmkfd.xn--p1ai"); err != nil {
		t.Errorf("punycode: %v", err)
	}
	for _, in := range []string{"Designer 👩\u200d💻", "mark \ufffd kept"} {
		if got, err := CleanText("notes", in, 100); err != nil || got != in {
			t.Errorf("CleanText(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := NewEvent("a@example.com", EventRegistered, "0001-01-01T00:00:00Z", "", "", "", time.Now()); ErrorCode(err) != "invalid_at" {
		t.Errorf("event of year 1: %v", err)
	}
	if _, err := NewListQuery(1, map[string][]string{"q": {"a\x00b"}}); ErrorCode(err) != "invalid_q" {
		t.Errorf("NUL in q: %v", err)
	}
	if _, err := NewListQuery(1, map[string][]string{"cursor": {"\xff"}}); ErrorCode(err) != "invalid_cursor" {
		t.Errorf("invalid UTF-8 in cursor: %v", err)
	}
}

func TestParseLocale(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Locale{"": Russian, "ru": Russian, "RU": Russian, "ru-RU": Russian, "en": English, "en_US": English, " En ": English} {
		if got, err := ParseLocale("locale", in); err != nil || got != want {
			t.Errorf("ParseLocale(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"de", "english", "r"} {
		if _, err := ParseLocale("locale", in); ErrorCode(err) != "unsupported_locale" {
			t.Errorf("ParseLocale(%q): %v", in, err)
		}
	}
}

func TestCleanText(t *testing.T) {
	t.Parallel()
	got, err := CleanText("feature", " line one\r\nline two\rthree\x07 <b>kept</b> ", 100)
	if err != nil || got != "line one\nline two\nthree <b>kept</b>" {
		t.Errorf("CleanText = %q, %v", got, err)
	}
	if _, err := CleanText("feature", strings.Repeat("я", 101), 100); ErrorCode(err) != "invalid_feature" {
		t.Errorf("too long: %v", err)
	}
	if _, err := CleanLine("full_name", "Anna\nBcc: x", 100); ErrorCode(err) != "invalid_full_name" {
		t.Errorf("CleanLine with LF: %v", err)
	}
}

func TestNewInviteDeduplicatesManagers(t *testing.T) {
	t.Parallel()
	in, err := NewInvite(1, "a@b.test", "", "", []int64{3, 1, 3}, "")
	if err != nil || len(in.ManagerIDs) != 2 || in.ManagerIDs[0] != 1 || in.Locale != Russian {
		t.Errorf("%+v %v", in, err)
	}
	if _, err := NewInvite(1, "a@b.test", "", "", []int64{0}, ""); ErrorCode(err) != "invalid_manager_ids" {
		t.Errorf("manager id 0: %v", err)
	}
}

func TestActorReach(t *testing.T) {
	t.Parallel()
	own := &Account{ID: 10, ClientID: 1}
	given := &Account{ID: 11, ClientID: 1}
	foreign := &Account{ID: 20, ClientID: 2}
	tests := []struct {
		name  string
		actor Actor
		acc   *Account
		act   Action
		kind  Kind // KindInternal means allowed
	}{
		{"staff anywhere", Actor{Kind: TokenStaff}, foreign, WriteContractors, KindInternal},
		{"client in own dashboard", Actor{Kind: TokenClient, ClientID: 1}, own, ManageManagers, KindInternal},
		{"client elsewhere", Actor{Kind: TokenClient, ClientID: 1}, foreign, ReadContractors, KindNotFound},
		{"owner sees all accounts", Actor{Kind: TokenManager, ClientID: 1, Role: RoleOwner}, own, WriteContractors, KindInternal},
		{"manager in a given account", Actor{Kind: TokenManager, ClientID: 1, Role: RoleManager, AccountIDs: []int64{11}}, given, WriteContractors, KindInternal},
		{"manager in an account not given", Actor{Kind: TokenManager, ClientID: 1, Role: RoleManager, AccountIDs: []int64{11}}, own, ReadContractors, KindNotFound},
		{"viewer reads", Actor{Kind: TokenManager, ClientID: 1, Role: RoleViewer, AccountIDs: []int64{11}}, given, ReadContractors, KindInternal},
		{"viewer cannot invite", Actor{Kind: TokenManager, ClientID: 1, Role: RoleViewer, AccountIDs: []int64{11}}, given, WriteContractors, KindForbidden},
		{"manager of another dashboard", Actor{Kind: TokenManager, ClientID: 2, Role: RoleOwner}, own, ReadContractors, KindNotFound},
	}
	for _, tt := range tests {
		err := tt.actor.AuthorizeAccount(tt.acc, tt.act)
		if (err == nil) != (tt.kind == KindInternal) || (err != nil && ErrorKind(err) != tt.kind) {
			t.Errorf("%s: %v, want kind %d", tt.name, err, tt.kind)
		}
	}
}

func TestNewManagerInvite(t *testing.T) {
	t.Parallel()
	in, err := NewManagerInvite(1, " Olga@Example.TEST ", "Ольга", RoleAdmin, []int64{3, 1, 3}, "en-GB")
	if err != nil || in.Email != "olga@example.test" || len(in.AccountIDs) != 2 || in.AccountIDs[0] != 1 || in.Locale != English {
		t.Fatalf("%+v %v", in, err)
	}
	bad := []struct {
		email, role string
		ids         []int64
		code        string
	}{
		{"o@x.test", "boss", []int64{1}, "invalid_role"},
		{"o@x.test", RoleOwner, []int64{1}, "invalid_role"},
		{"o@x.test", "", []int64{1}, "invalid_role"},
		{"o@x.test", RoleViewer, nil, "invalid_account_ids"},
		{"o@x.test", RoleViewer, []int64{1, -2}, "invalid_account_ids"},
		{"o@", RoleViewer, []int64{1}, "invalid_email"},
	}
	for _, tt := range bad {
		if _, err := NewManagerInvite(1, tt.email, "", tt.role, tt.ids, ""); ErrorCode(err) != tt.code {
			t.Errorf("%+v: %v, want %s", tt, err, tt.code)
		}
	}
}

func TestManagerEditKeepsWhatTheEditorCannotSee(t *testing.T) {
	t.Parallel()
	if _, err := NewManagerEdit(1, nil, nil); ErrorCode(err) != "empty_edit" {
		t.Errorf("empty edit: %v", err)
	}
	role := RoleViewer
	e, err := NewManagerEdit(1, &role, nil)
	if err != nil || e.AccountIDs != nil || !slices.Equal(e.Accounts([]int64{1, 2}), []int64{1, 2}) {
		t.Errorf("role only: %+v %v", e, err)
	}
	ids := []int64{5, 3}
	e, err = NewManagerEdit(1, nil, &ids)
	if err != nil || !slices.Equal(e.Accounts([]int64{1, 2}), []int64{3, 5}) {
		t.Errorf("unlimited: %v %v", e.Accounts([]int64{1, 2}), err)
	}
	// An editor who reaches 1 and 3 sets {3}: 1 goes, 2 (out of reach) stays.
	e.AccountIDs, e.Limited, e.Reach = []int64{3}, true, []int64{1, 3}
	if got := e.Accounts([]int64{1, 2}); !slices.Equal(got, []int64{2, 3}) {
		t.Errorf("limited: %v", got)
	}
	// Nor may that editor change the role, which holds in account 2 too.
	e.Role = RoleAdmin
	if err := e.CheckRole(&Manager{ID: 4, Role: RoleViewer, AccountIDs: []int64{1, 2}}); ErrorKind(err) != KindForbidden {
		t.Errorf("role beyond reach: %v", err)
	}
	if err := e.CheckRole(&Manager{ID: 4, Role: RoleViewer, AccountIDs: []int64{1, 3}}); err != nil {
		t.Errorf("role within reach: %v", err)
	}
}

func TestReachOfManagers(t *testing.T) {
	t.Parallel()
	admin := Actor{Kind: TokenManager, ClientID: 1, ManagerID: 7, Role: RoleAdmin, AccountIDs: []int64{10}}
	owner := Actor{Kind: TokenManager, ClientID: 1, Role: RoleOwner}
	if err := admin.CheckReach(1, []int64{10, 11}); ErrorCode(err) != "unknown_account" || !strings.Contains(err.Error(), "11") {
		t.Errorf("admin grants 11: %v", err)
	}
	if err := owner.CheckReach(1, []int64{10, 11}); err != nil {
		t.Errorf("owner: %v", err)
	}
	if got := admin.VisibleAccountIDs([]int64{10, 11}); !slices.Equal(got, []int64{10}) {
		t.Errorf("admin sees %v", got)
	}
	ownerM := &Manager{ID: 1, ClientID: 1, Role: RoleOwner}
	colleague := &Manager{ID: 2, ClientID: 1, Role: RoleViewer}
	foreign := &Manager{ID: 3, ClientID: 2, Role: RoleViewer}
	viewer := Actor{Kind: TokenManager, ClientID: 1, Role: RoleViewer}
	client := Actor{Kind: TokenClient, ClientID: 1}
	tests := []struct {
		name  string
		actor Actor
		m     *Manager
		act   Action
		kind  Kind // KindInternal means allowed
	}{
		{"admin edits a colleague", admin, colleague, ManageManagers, KindInternal},
		{"admin edits the owner", admin, ownerM, ManageManagers, KindForbidden},
		{"admin reads the owner", admin, ownerM, ReadDashboard, KindInternal},
		{"viewer edits", viewer, colleague, ManageManagers, KindForbidden},
		{"viewer reads", viewer, colleague, ReadDashboard, KindInternal},
		{"client edits the owner (the store refuses)", client, ownerM, ManageManagers, KindInternal},
		{"another dashboard's manager", client, foreign, ReadDashboard, KindNotFound},
	}
	for _, tt := range tests {
		err := tt.actor.AuthorizeManager(tt.m, tt.act)
		if (err == nil) != (tt.kind == KindInternal) || (err != nil && ErrorKind(err) != tt.kind) {
			t.Errorf("%s: %v, want kind %d", tt.name, err, tt.kind)
		}
	}
}

func TestParseLanguage(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Locale{"": Russian, "ru": Russian, "Russian": Russian, "русский": Russian, "Рус.": Russian,
		"EN": English, "english": English, "Английский": English, "англ.": English, "en-GB": English} {
		if got, err := ParseLanguage("language", in); err != nil || got != want {
			t.Errorf("ParseLanguage(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"de", "klingon", "1"} {
		if _, err := ParseLanguage("language", in); ErrorCode(err) != "unsupported_locale" || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseLanguage(%q): %v", in, err)
		}
	}
	for in, want := range map[string]Locale{"": Russian, "0": Russian, "нет": Russian, "1": English, "Yes": English, "да": English} {
		if got, err := ParseEnglishFlag("invite_in_english", in); err != nil || got != want {
			t.Errorf("ParseEnglishFlag(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseEnglishFlag("invite_in_english", "maybe"); ErrorCode(err) != "unsupported_locale" {
		t.Errorf("ParseEnglishFlag(maybe): %v", err)
	}
}

func TestFailedRowReason(t *testing.T) {
	t.Parallel()
	fr := FailedRow{Line: 7, Errors: []RowError{{Column: "Email", Reason: "bad"}, {Reason: "unreadable"}}}
	if got := fr.Reason(); got != "Строка / Row 7: «Email»: bad; unreadable" {
		t.Errorf("%q", got)
	}
}

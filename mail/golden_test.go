package mail_test

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/mail"
)

// update rewrites the golden files: go test ./mail -run Golden -update.
var update = flag.Bool("update", false, "rewrite mail/testdata/golden from the templates")

// goldenCases are every kind of email, with each branch of its template
// taken at least once.
func goldenCases() map[string]mail.Data {
	i := inviteData()
	to := i.To
	noName := i
	noName.Name, noName.Feature = "", ""
	merged := func(audience string, accounts ...string) mail.Merged {
		return mail.Merged{To: to, Client: "ООО Ромашка", Audience: audience, Accounts: accounts,
			Sources: "Ромашка-2, Ромашка-3", URL: "https://app.test/login"}
	}
	withInviter := managerData("Дизайн", "Маркетинг")
	withInviter.Inviter = "Ольга Петрова"
	withInviter.Role = "admin"
	return map[string]mail.Data{
		"invite":                 i,
		"invite-no-name":         noName,
		"resend":                 mail.Resend(i),
		"reminder":               mail.Reminder(i),
		"added":                  mail.Added{To: to, Client: i.Client, Account: i.Account, Feature: i.Feature, URL: "https://app.test/login"},
		"manager":                managerData("Дизайн"),
		"manager-inviter":        withInviter,
		"merged-target-owner":    merged(muster.AudienceTargetOwner, "Дизайн (Ромашка-2)", "Маркетинг"),
		"merged-source-owner":    merged(muster.AudienceSourceOwner, "Дизайн (Ромашка-2)"),
		"merged-manager":         merged(muster.AudienceManager, "Маркетинг"),
		"merged-manager-nothing": merged(muster.AudienceManager),
		"signin":                 mail.Signin{To: to, URL: "http://console.test/signin/link?token=abc.def", Minutes: 15},
	}
}

// Every email, in every language, as it renders today. A change to a
// template or a string shows in review as a change to these files.
func TestGoldenEmails(t *testing.T) {
	r := renderer(t)
	cases := goldenCases()
	covered := map[string]bool{}
	for name, data := range cases {
		covered[data.Template()] = true
		for _, l := range muster.Locales {
			c, err := r.Render(l, data)
			if err != nil {
				t.Errorf("%s/%s: %v", name, l, err)
				continue
			}
			got := "Subject: " + c.Subject + "\n\n" + c.Text + "\n-- html --\n" + c.HTML
			path := filepath.Join("testdata", "golden", name+"."+string(l)+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%s: %v (run go test ./mail -run Golden -update to write it)", path, err)
				continue
			}
			if got != string(want) {
				t.Errorf("%s/%s differs from %s (if the change is meant, run go test ./mail -run Golden -update and review the diff):\n%s",
					name, l, path, firstDiff(string(want), got))
			}
		}
	}
	for _, k := range mail.Kinds {
		if !covered[k.Template()] {
			t.Errorf("no golden file for the %q email: add it to goldenCases", k.Template())
		}
	}
}

// firstDiff shows the first line where two texts part.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n  want " + a + "\n  got  " + b
		}
	}
	return ""
}

// partial is the data of an invite that lacks most of what the template
// needs; it must not render with holes.
type partial struct{ mail.To }

func (partial) Template() string { return "invite" }

func TestRenderRefusesMissingData(t *testing.T) {
	_, err := renderer(t).Render(muster.Russian, partial{To: mail.To{Name: "Анна"}})
	if err == nil || !strings.Contains(err.Error(), "map has no entry for key") {
		t.Fatalf("rendering an invite without its data: %v", err)
	}
}

package mail_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/mail"
)

func TestMailboxDecodesWhatFileSenderWrote(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	fs := &mail.FileSender{Dir: dir, From: from, Now: func() time.Time { now = now.Add(time.Second); return now }}
	data := inviteData()
	data.URL = "https://app.test/signup?invitation=abc&sig=1"
	c, err := renderer(t).Render(muster.Russian, data)
	if err != nil {
		t.Fatal(err)
	}
	for i, to := range []string{"anna@example.test", "boris@example.test"} {
		m := &mail.Message{To: to, ToName: "Анна", MessageID: "invite-" + string(rune('1'+i)) + "@muster.test", Content: *c}
		if err := fs.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	box, err := mail.ReadMailbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(box) != 2 || !strings.Contains(box[0].To, "anna@example.test") || !strings.Contains(box[1].To, "boris@example.test") {
		t.Fatalf("mailbox = %+v, want anna's then boris's message", box)
	}
	got := box[0]
	if got.Subject != c.Subject {
		t.Errorf("subject = %q, want %q", got.Subject, c.Subject)
	}
	if !strings.Contains(got.Text, "Здравствуйте, Анна!") {
		t.Errorf("text not decoded:\n%s", got.Text)
	}
	if len(got.Links) == 0 || got.Links[0] != "https://app.test/signup?invitation=abc&sig=1" {
		t.Errorf("links = %q, want the sign-up link first, unescaped", got.Links)
	}
	var out strings.Builder
	if err := got.Format(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Subject: " + c.Subject, "Здравствуйте, Анна!", "Links:\n  https://app.test/signup?invitation=abc&sig=1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("formatted message lacks %q:\n%s", want, out.String())
		}
	}
}

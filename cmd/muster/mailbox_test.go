package main

import (
	"bytes"
	"context"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/muster-dev/muster/mail"
)

func TestMailListsAndPrintsTheDevMailbox(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fs := &mail.FileSender{Dir: dir, From: &netmail.Address{Address: "no-reply@muster.test"}, Now: time.Now}
	for _, to := range []string{"anna@example.test", "olga@example.test"} {
		m := &mail.Message{To: to, MessageID: to, Content: mail.Content{
			Subject: "Приглашение для " + to, Text: "Примите приглашение: https://app.test/managers/accept?token=" + to, HTML: "<p>hi</p>"}}
		if err := fs.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	vars := env(map[string]string{"MAIL_DIR": dir})
	var list, one, stderr bytes.Buffer
	if err := run(context.Background(), []string{"mail"}, vars, &list, &stderr); err != nil {
		t.Fatalf("mail: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(list.String(), "1  ") || !strings.Contains(list.String(), "Приглашение для anna@example.test") || !strings.Contains(list.String(), "olga@example.test") {
		t.Errorf("list:\n%s", list.String())
	}
	if err := run(context.Background(), []string{"mail", "last"}, vars, &one, &stderr); err != nil {
		t.Fatalf("mail last: %v", err)
	}
	if !strings.Contains(one.String(), "Subject: Приглашение для olga@example.test") || !strings.Contains(one.String(), "  https://app.test/managers/accept?token=olga@example.test") {
		t.Errorf("mail last:\n%s", one.String())
	}
	if err := run(context.Background(), []string{"mail", "3"}, vars, &one, &stderr); err == nil || !strings.Contains(err.Error(), "it has 2") {
		t.Errorf("mail 3 = %v, want an error saying there are 2", err)
	}
}

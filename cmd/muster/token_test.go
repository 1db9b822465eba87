package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/muster-dev/muster/internal/postgres/pgtest"
)

func TestTokenListAndRevoke(t *testing.T) {
	t.Parallel()
	vars := env(map[string]string{"DATABASE_URL": pgtest.NewURL(t)})
	cli := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, vars, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	secret, err := cli("token", "create", "--staff", "--name", "ops")
	if err != nil {
		t.Fatalf("create: %v %s", err, secret)
	}
	list, err := cli("token", "list")
	if err != nil || !strings.Contains(list, "staff") || !strings.Contains(list, "ops") || strings.Contains(list, strings.TrimSpace(secret)) {
		t.Fatalf("list (err %v) should show the token without its secret:\n%s", err, list)
	}
	if out, err := cli("token", "revoke", "1"); err != nil || !strings.Contains(out, "token 1 (staff \"ops\") revoked") {
		t.Fatalf("revoke: %v %s", err, out)
	}
	if list, _ := cli("token", "list"); strings.Contains(strings.SplitN(list, "\n", 3)[1], "  -\n") {
		t.Errorf("the revoked token should show when it was revoked:\n%s", list)
	}
	if out, err := cli("token", "revoke", "99"); err == nil || !strings.Contains(err.Error(), "token 99 not found") {
		t.Errorf("revoking an unknown token: %v %s", err, out)
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/muster-dev/muster/internal/config"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/postgres"
)

// token creates an API token and prints it: the only time it is shown.
func token(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "list":
			return tokenList(ctx, args[1:], getenv, stdout, stderr)
		case "revoke":
			return tokenRevoke(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, tokenUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	staff := fs.Bool("staff", false, "a platform staff token: every dashboard, merges")
	client := fs.Int64("client", 0, "a token for the dashboard (client) with this id")
	manager := fs.Int64("manager", 0, "a token for the manager with this id, with their role and accounts")
	name := fs.String("name", "", "a label, shown in audit trails")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	var kind string
	switch {
	case *staff && *client == 0 && *manager == 0:
		kind = muster.TokenStaff
	case !*staff && *client > 0 && *manager == 0:
		kind = muster.TokenClient
	case !*staff && *client == 0 && *manager > 0:
		kind = muster.TokenManager
	default:
		fmt.Fprint(stderr, "muster token create: give exactly one of --staff, --client ID, --manager ID\n")
		return errUsage
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	// Migrating first lets the very first command on a new machine be this one.
	db, err := openDB(ctx, cfg.DatabaseURL, newLogger(cfg, stderr), true)
	if err != nil {
		return err
	}
	defer db.Close()
	tok, err := db.CreateToken(ctx, kind, *client, *manager, *name)
	if e := muster.AsError(err); e != nil {
		return errors.New(e.Message)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

const tokenUsage = `usage: muster token create --staff | --client ID | --manager ID [--name NAME]
       muster token list [--client ID] [--manager ID]
       muster token revoke ID
`

// tokenList prints every token (staff's view), or a dashboard's or a
// manager's, newest first; never their secrets.
func tokenList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client := fs.Int64("client", 0, "only the tokens of the dashboard (client) with this id")
	manager := fs.Int64("manager", 0, "only the tokens of the manager with this id")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	db, err := openFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	ts, err := db.ListTokens(ctx, muster.TokenFilter{ClientID: *client, ManagerID: *manager})
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tKIND\tCLIENT\tMANAGER\tNAME\tCREATED\tLAST USED\tREVOKED")
	for _, t := range ts {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, orDash(t.ClientID), orDash(t.ManagerID), t.Name,
			t.CreatedAt.Local().Format(time.DateTime), timeOrDash(t.LastUsedAt), timeOrDash(t.RevokedAt))
	}
	return w.Flush()
}

// tokenRevoke revokes one token by id: it stops working at once.
func tokenRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		fmt.Fprint(stderr, tokenUsage)
		return errUsage
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("token revoke: %q is not a token id (see muster token list)", args[0])
	}
	db, err := openFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	t, err := db.RevokeToken(ctx, id, muster.TokenFilter{})
	if e := muster.AsError(err); e != nil {
		return errors.New(e.Message)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %d (%s %q) revoked at %s\n", t.ID, t.Kind, t.Name, t.RevokedAt.Local().Format(time.DateTime))
	return nil
}

func openFromEnv(ctx context.Context, getenv func(string) string, stderr io.Writer) (*postgres.DB, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	return openDB(ctx, cfg.DatabaseURL, newLogger(cfg, stderr), false)
}

func orDash(id *int64) string {
	if id == nil {
		return "-"
	}
	return strconv.FormatInt(*id, 10)
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

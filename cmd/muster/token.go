package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/muster-dev/muster/internal/config"
	"github.com/muster-dev/muster/internal/muster"
)

// token creates an API token and prints it: the only time it is shown.
func token(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, "usage: muster token create --staff | --client ID | --manager ID [--name NAME]\n")
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

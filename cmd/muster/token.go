package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/muster-dev/muster/internal/config"
	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/postgres"
)

func (e *cli) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens", Args: cobra.NoArgs}

	var staff bool
	var client, manager int64
	var name string
	create := &cobra.Command{
		Use:   "create --staff | --client ID | --manager ID [--name NAME]",
		Short: "Print a new API token: the only time it is shown",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kind := muster.TokenStaff
			switch {
			case cmd.Flags().Changed("client"):
				kind = muster.TokenClient
			case cmd.Flags().Changed("manager"):
				kind = muster.TokenManager
			case !staff:
				return errors.New("--staff=false: give --staff, --client ID or --manager ID")
			}
			return tokenCreate(cmd.Context(), kind, client, manager, name, e.getenv, e.stdout, e.stderr)
		},
	}
	create.Flags().BoolVar(&staff, "staff", false, "a platform staff token: every dashboard, merges")
	create.Flags().Int64Var(&client, "client", 0, "a token for the dashboard (client) with this id")
	create.Flags().Int64Var(&manager, "manager", 0, "a token for the manager with this id, with their role and accounts")
	create.Flags().StringVar(&name, "name", "", "a label, shown in audit trails")
	create.MarkFlagsOneRequired("staff", "client", "manager")
	create.MarkFlagsMutuallyExclusive("staff", "client", "manager")

	var listClient, listManager int64
	list := &cobra.Command{
		Use:   "list [--client ID] [--manager ID]",
		Short: "List tokens, newest first, without their secrets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return tokenList(cmd.Context(), muster.TokenFilter{ClientID: listClient, ManagerID: listManager}, e.getenv, e.stdout, e.stderr)
		},
	}
	list.Flags().Int64Var(&listClient, "client", 0, "only the tokens of the dashboard (client) with this id")
	list.Flags().Int64Var(&listManager, "manager", 0, "only the tokens of the manager with this id")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token: the next request with it is refused",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return tokenRevoke(cmd.Context(), args[0], e.getenv, e.stdout, e.stderr)
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// tokenCreate creates an API token and prints it: the only time it is shown.
func tokenCreate(ctx context.Context, kind string, client, manager int64, name string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	tok, err := db.CreateToken(ctx, kind, client, manager, name)
	if e := muster.AsError(err); e != nil {
		return errors.New(e.Message)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// tokenList prints every token (staff's view), or a dashboard's or a
// manager's, newest first; never their secrets.
func tokenList(ctx context.Context, f muster.TokenFilter, getenv func(string) string, stdout, stderr io.Writer) error {
	db, err := openFromEnv(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	ts, err := db.ListTokens(ctx, f)
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
func tokenRevoke(ctx context.Context, arg string, getenv func(string) string, stdout, stderr io.Writer) error {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("token revoke: %q is not a token id (see muster token list)", arg)
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

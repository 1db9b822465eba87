// Command muster runs Muster: the admin API, the job worker and the
// scheduler, together (serve) or one role per process.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `Usage: muster <command> [flags]

Commands:
  serve       run the API, the worker and the scheduler in one process
              (creates the database if missing and migrates it first)
  web         run the admin API only
  worker      run the job worker only
  scheduler   run the scheduler only
  migrate     create the database if missing and apply migrations
  import --account ID [--errors PATH] FILE
              import contractors from an .xlsx or .csv file into an account,
              with a progress bar (a worker must be running: serve or worker)
  token create --staff | --client ID | --manager ID [--name NAME]
              print a new API token
  mail [N | last]
              list the dev mailbox (MAIL_DIR), or print one message decoded,
              with its links

Configuration comes from environment variables; see README.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "muster:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run is main without the process: tests call it with their own
// environment and a context they cancel.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve", "web", "worker", "scheduler":
		return serve(ctx, cmd, getenv, stderr)
	case "migrate":
		return migrate(ctx, getenv, stderr)
	case "token":
		return token(ctx, rest, getenv, stdout, stderr)
	case "mail":
		return mailbox(rest, getenv, stdout, stderr)
	case "import":
		return importFile(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "muster: unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}

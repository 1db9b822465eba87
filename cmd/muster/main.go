// Command muster runs Muster: the admin API, the job worker and the
// scheduler, together (serve) or one role per process.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/muster-dev/muster/internal/config"
	"github.com/muster-dev/muster/jobs"
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
	logThroughSlog(os.Getenv, os.Stderr)
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "muster:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// logThroughSlog sends the log lines of libraries that do not take a
// logger through slog too: the standard logger's (net/http, asynqmon) and
// go-redis's. They are process-wide, so main sets them, not run.
func logThroughSlog(getenv func(string) string, stderr io.Writer) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return // run reports the bad variable
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(log)
	redis.SetLogger(jobs.RedisLog{Log: log.With("component", "go-redis")})
}

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

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
  bench [--quick] [--runs N] [--only 1,2,…] [--port P]
              measure the email pipeline against baselines (see README.md,
              "Benchmarks"); it empties the Redis database of REDIS_URL

Configuration comes from environment variables; see README.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "muster:", err)
		}
		os.Exit(exitCode(err))
	}
}

var errUsage = errors.New("usage")

// Exit statuses besides 0 and 1 (an error, a rejected file).
const (
	exitUsage      = 2
	exitRowsFailed = 3
)

// exitError is an error with its own exit status.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var e exitError
	switch {
	case errors.As(err, &e):
		return e.code
	case errors.Is(err, errUsage):
		return exitUsage
	}
	return 1
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
	case "import":
		return importFile(ctx, rest, getenv, stdout, stderr)
	case "bench":
		return benchmark(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "muster: unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}

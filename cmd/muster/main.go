// Command muster runs Muster: the admin API, the job worker and the
// scheduler, together (serve) or one role per process, and the commands
// around them. Each subcommand lives in its own file.
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
	"github.com/spf13/cobra"

	"github.com/muster-dev/muster/internal/config"
	"github.com/muster-dev/muster/internal/metrics"
	"github.com/muster-dev/muster/jobs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logThroughSlog(os.Getenv, os.Stderr)
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "muster:", err)
		os.Exit(exitCode(err))
	}
}

// cli is what every command runs with: tests give their own.
type cli struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// Exit statuses besides 0 and 1 (an error, a rejected file): 2 for a
// mistyped command line, 3 for an import with failed rows.
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
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}

// run is main without the process: tests call it with their own
// environment and a context they cancel.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := &cli{getenv: getenv, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "muster",
		Short: "Muster invites contractors, imports them, follows their onboarding and merges dashboards",
		Long: `Muster invites contractors, imports them, follows their onboarding and merges dashboards.

Configuration comes from environment variables; see README.md.`,
		Version:       version(),
		SilenceErrors: true, // main prints the error once
		SilenceUsage:  true, // a mistyped command line gets a pointer to --help instead
	}
	// Cobra checks required and exclusive flags only after this hook; check
	// them first, so that ran means the command line was right.
	ran := false
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := cmd.ValidateRequiredFlags(); err != nil {
			return err
		}
		if err := cmd.ValidateFlagGroups(); err != nil {
			return err
		}
		ran = true
		return nil
	}
	root.SetVersionTemplate("muster {{.Version}}\n")
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(e.serveCommands()...)
	root.AddCommand(e.migrateCommand(), e.importCommand(), e.tokenCommand(), e.mailCommand(), e.benchCommand(), e.versionCommand())
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil && !ran {
		return usageError(cmd, err)
	}
	return err
}

// usageError is a mistyped command line: exit status 2, and a pointer to
// the command's help.
func usageError(cmd *cobra.Command, err error) error {
	return exitError{exitUsage, fmt.Errorf("%w\nRun '%s --help' for usage.", err, cmd.CommandPath())}
}

// version names the build: the module version, the commit and Go's version.
func version() string {
	v := metrics.Build()
	s := v.Version
	if v.Revision != "" {
		s += " " + v.Revision
	}
	return s + " " + v.GoVersion
}

func (e *cli) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this build",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(e.stdout, "muster", version())
		},
	}
}

// logThroughSlog sends the log lines of libraries that do not take a
// logger through slog too: the standard logger's (net/http, asynqmon) and
// go-redis's. They are process-wide, so main sets them, not run.
func logThroughSlog(getenv func(string) string, stderr io.Writer) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return // the command reports the bad variable
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(log)
	redis.SetLogger(jobs.RedisLog{Log: log.With("component", "go-redis")})
}

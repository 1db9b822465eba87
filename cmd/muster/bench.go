package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/muster-dev/muster/internal/bench"
	"github.com/muster-dev/muster/internal/config"
)

// benchmark runs `muster bench`: the email pipeline's scenarios, with this
// binary as the worker and web processes.
func benchmark(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runs := fs.Int("runs", 3, "runs of each scenario")
	quick := fs.Bool("quick", false, "smaller imports and shorter load, for a first look")
	port := fs.Int("port", 18200, "the first of three loopback ports: loopback sink, 50 ms sink, API")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: find the muster binary: %w", err)
	}
	return bench.Run(ctx, bench.Options{
		DatabaseURL: cfg.DatabaseURL, RedisURL: cfg.RedisURL, Exe: exe,
		Runs: *runs, Quick: *quick, Port: *port, Out: stdout,
	})
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

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
	only := fs.String("only", "", "comma-separated scenarios to run (1-5; 6 comes with 1); default all")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	var scenarios []int
	for _, f := range strings.FieldsFunc(*only, func(r rune) bool { return r == ',' }) {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 6 {
			return fmt.Errorf("bench: --only: %q is not a scenario (1-6)", f)
		}
		scenarios = append(scenarios, n)
	}
	if slices.Contains(scenarios, 6) {
		scenarios = append(scenarios, 1)
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
		Runs: *runs, Quick: *quick, Only: scenarios, Port: *port, Out: stdout,
	})
}

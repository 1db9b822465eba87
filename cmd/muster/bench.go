package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/muster-dev/muster/internal/bench"
	"github.com/muster-dev/muster/internal/config"
)

// benchmark runs `muster bench`: the email pipeline's scenarios, with this
// binary as the worker and web processes.
func (e *cli) benchCommand() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench [--quick] [--runs N] [--only 1,2,…] [--port P]",
		Short: "Measure the email pipeline against baselines (it empties the Redis database of REDIS_URL)",
		Long: `Measure the email pipeline against baselines, with this binary as the worker and web
processes (see README.md, "Benchmarks"). It empties the Redis database of REDIS_URL.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchmark(cmd.Context(), o, e.getenv, e.stdout)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.runs, "runs", 3, "runs of each scenario")
	f.BoolVar(&o.quick, "quick", false, "smaller imports and shorter load, for a first look")
	f.IntVar(&o.port, "port", 18200, "the first of three loopback ports: loopback sink, 50 ms sink, API")
	f.StringVar(&o.only, "only", "", "comma-separated scenarios to run (1-5; 6 comes with 1); default all")
	return cmd
}

// benchOptions are the flags of muster bench.
type benchOptions struct {
	runs, port int
	quick      bool
	only       string
}

func benchmark(ctx context.Context, o benchOptions, getenv func(string) string, stdout io.Writer) error {
	var scenarios []int
	for _, f := range strings.FieldsFunc(o.only, func(r rune) bool { return r == ',' }) {
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
		Runs: o.runs, Quick: o.quick, Only: scenarios, Port: o.port, Out: stdout,
	})
}

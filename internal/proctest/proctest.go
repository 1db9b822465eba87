// Package proctest measures processes for benchmarks.
package proctest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PeakRSS is a live process's peak resident set (VmHWM) in MiB; pid 0 is
// this process. A child's rusage would not do: Linux counts the parent's
// memory in a child's ru_maxrss when the child shared it until exec, as
// Go's fork does.
func PeakRSS(pid int) (float64, error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				return 0, fmt.Errorf("%s: VmHWM %q: %w", path, v, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("%s has no VmHWM", path)
}

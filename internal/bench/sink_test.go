package bench

import (
	"context"
	"testing"
	"time"
)

// The 50 ms sink takes messages on several connections at once, as a
// relay does, so the bare loop's connections overlap there.
func TestSlowSinkServesConnectionsInParallel(t *testing.T) {
	s, err := startSink("127.0.0.1:0", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, err := bareLoop(context.Background(), s, 40); err != nil {
		t.Fatal(err)
	}
	if _, err := s.wait(context.Background(), "loop.bench", 40, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	peak := s.peak
	s.mu.Unlock()
	if peak < 2 {
		t.Errorf("the sink took at most %d message at once over %d connections", peak, conns)
	}
	if d := s.duplicates(); d != 0 {
		t.Errorf("%d Message-IDs counted twice", d)
	}
}

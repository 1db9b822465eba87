package bench

import (
	"context"
	"testing"
	"time"
)

// The 50 ms sink takes messages on several connections at once, as a
// relay does: four connections move four times what one would.
func TestSlowSinkServesConnectionsInParallel(t *testing.T) {
	s, err := startSink("127.0.0.1:0", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	took, err := bareLoop(context.Background(), s, 40)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.wait(context.Background(), "loop.bench", 40, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if serial := 40 * 50 * time.Millisecond; took > serial/2 {
		t.Errorf("40 messages took %s over %d connections; one at a time takes %s", took, conns, serial)
	}
}

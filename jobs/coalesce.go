package jobs

import (
	"context"
	"sync"
	"time"
)

// coalescer runs one call for all the requests that arrive while its
// previous call runs: concurrent single sends share a statement, and a
// commit, instead of each waiting for its own. A lone request runs at once.
type coalescer[In, Out any] struct {
	run     func(ctx context.Context, ins []In) ([]Out, []error)
	mu      sync.Mutex
	pending []*call[In, Out]
	running bool
}

type call[In, Out any] struct {
	in   In
	out  Out
	err  error
	done chan struct{}
}

// do queues in and waits for its result.
func (c *coalescer[In, Out]) do(in In) (Out, error) {
	cl := &call[In, Out]{in: in, done: make(chan struct{})}
	c.mu.Lock()
	c.pending = append(c.pending, cl)
	if !c.running {
		c.running = true
		go c.loop()
	}
	c.mu.Unlock()
	<-cl.done
	return cl.out, cl.err
}

// loop runs calls until no request waits. The shared statement belongs to
// no single request, so it runs under its own bounded context.
func (c *coalescer[In, Out]) loop() {
	for {
		c.mu.Lock()
		batch := c.pending
		c.pending = nil
		if len(batch) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		ins := make([]In, len(batch))
		for i, cl := range batch {
			ins[i] = cl.in
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		outs, errs := c.run(ctx, ins)
		cancel()
		for i, cl := range batch {
			cl.out, cl.err = outs[i], errs[i]
			close(cl.done)
		}
	}
}

// shared gives n requests that shared one statement its error.
func shared[Out any](n int, err error) ([]Out, []error) {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return make([]Out, n), errs
}

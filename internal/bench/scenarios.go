package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	gomail "github.com/wneessen/go-mail"
	"golang.org/x/sync/errgroup"

	"github.com/muster-dev/muster/internal/config"
	"github.com/muster-dev/muster/internal/muster"
)

// conns is SMTP_CONNS's default: the bare loop gets as many connections.
const conns = 4

// slowRows is how many emails the 50 ms sink takes per run: at 4
// connections it accepts 80 a second, so a 20k import would take minutes.
func (o Options) slowRows() int {
	if o.Quick {
		return 500
	}
	return 2_000
}

// importVsLoop is scenario 1, on both sinks, and 6 (the worker's peak RSS
// during the loopback import).
func (e *env) importVsLoop(ctx context.Context) ([]row, error) {
	var out []row
	rss := row{name: "(6) worker peak RSS during the loopback import", unit: "MB", target: "≤ 150 MB"}
	for _, s := range []*sink{e.fast, e.slow} {
		n, label := e.o.sizes().importRows, "loopback sink"
		if s == e.slow {
			n, label = e.o.slowRows(), "50 ms sink"
		}
		r := row{name: fmt.Sprintf("(1) emails of a %d-row import, %s", n, label), unit: "emails/s", target: "≥ 0.7×"}
		for range e.o.Runs {
			if err := e.fresh(ctx); err != nil {
				return nil, err
			}
			w, err := e.start("worker", s)
			if err != nil {
				return nil, err
			}
			took, err := e.timeImport(ctx, s, n)
			peak := w.stop()
			if err != nil {
				return nil, err
			}
			base, err := bareLoop(ctx, s, n)
			if err != nil {
				return nil, err
			}
			m, b := float64(n)/took.Seconds(), float64(n)/base.Seconds()
			r.muster, r.base, r.ratio = append(r.muster, m), append(r.base, b), append(r.ratio, m/b)
			if s == e.fast {
				rss.muster = append(rss.muster, float64(peak)/(1<<20))
			}
		}
		out = append(out, r)
	}
	return append(out, rss), nil
}

// timeImport imports n new contractors into a new client's account and
// waits for their last email.
func (e *env) timeImport(ctx context.Context, s *sink, n int) (time.Duration, error) {
	_, took, err := e.importInto(ctx, s, n)
	return took, err
}

func (e *env) importInto(ctx context.Context, s *sink, n int) (*muster.Account, time.Duration, error) {
	a, err := e.client(ctx)
	if err != nil {
		return nil, 0, err
	}
	dom := "c" + strconv.FormatInt(a.ID, 10) + ".bench"
	start := time.Now()
	if err := e.importRows(ctx, a.ID, dom, n); err != nil {
		return nil, 0, err
	}
	end, err := s.wait(ctx, dom, n, 15*time.Minute)
	if err != nil {
		return nil, 0, err
	}
	if d := s.duplicates(); d > 0 {
		return nil, 0, fmt.Errorf("%d emails sent twice", d)
	}
	return a, end.Sub(start), nil
}

// bareLoop sends n messages of an invitation's size over conns reused
// go-mail connections, and nothing else: what SMTP alone allows.
func bareLoop(ctx context.Context, s *sink, n int) (time.Duration, error) {
	start := time.Now()
	g, ctx := errgroup.WithContext(ctx)
	for c := range conns {
		g.Go(func() error {
			cl, err := dialLoop(ctx, s)
			if err != nil {
				return err
			}
			defer cl.Close()
			for i := c; i < n; i += conns {
				if err := cl.Send(loopMsg(i)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, fmt.Errorf("bare go-mail loop: %w", err)
	}
	return time.Since(start), nil
}

// dialLoop connects a go-mail client to s.
func dialLoop(ctx context.Context, s *sink) (*gomail.Client, error) {
	host, port, _ := strings.Cut(s.addr, ":")
	p, _ := strconv.Atoi(port)
	cl, err := gomail.NewClient(host, gomail.WithPort(p), gomail.WithTLSPolicy(gomail.NoTLS))
	if err != nil {
		return nil, err
	}
	return cl, cl.DialWithContext(ctx)
}

var loopBody = strings.Repeat("Здравствуйте! Вас приглашают в команду. ", 40)

// loopMsg is the baselines' i-th message: an invitation's size, in two
// parts, to a domain of its own.
func loopMsg(i int) *gomail.Msg {
	m := gomail.NewMsg(gomail.WithEncoding(gomail.EncodingB64))
	m.FromMailAddress(&mail.Address{Name: "Muster", Address: "no-reply@muster.bench"})
	m.ToMailAddress(&mail.Address{Name: "Анна", Address: fmt.Sprintf("loop%d@loop.bench", i)})
	m.Subject("Приглашение")
	m.SetMessageIDWithValue(fmt.Sprintf("loop-%d@muster.bench", i))
	m.SetBodyString(gomail.TypeTextPlain, loopBody)
	m.AddAlternativeString(gomail.TypeTextHTML, "<p>"+loopBody+"</p>")
	return m
}

// interactive is scenario 2: a burst of single invitations through one
// worker, against Asynq running a handler that does one INSERT per task,
// and (2′, for what bounds (2)) one that also sends an email with go-mail
// to the same sink over as many connections as the worker has.
func (e *env) interactive(ctx context.Context) ([]row, error) {
	n := e.o.sizes().burst
	r := row{name: fmt.Sprintf("(2) %d `invitation:send` jobs, loopback sink", n), unit: "jobs/s", target: "≥ 0.5×"}
	r2 := row{name: "(2′) the same ÷ Asynq doing one INSERT and one go-mail send a task", unit: "jobs/s", target: "—"}
	for range e.o.Runs {
		if err := e.fresh(ctx); err != nil {
			return nil, err
		}
		a, err := e.client(ctx)
		if err != nil {
			return nil, err
		}
		dom := "i" + strconv.FormatInt(a.ID, 10) + ".bench"
		ids := make([]int64, n)
		for i := range n {
			in, err := muster.NewInvite(a.ID, fmt.Sprintf("c%d@%s", i, dom), "Анна", "", nil, "")
			if err != nil {
				return nil, err
			}
			res, err := e.db.Invite(ctx, in)
			if err != nil {
				return nil, err
			}
			ids[i] = res.Invitation.ID
		}
		w, err := e.start("worker", e.fast)
		if err != nil {
			return nil, err
		}
		time.Sleep(time.Second) // the worker connects
		err = e.queue.SendMany(ctx, ids, 0)
		var end time.Time
		if err == nil {
			end, err = e.fast.wait(ctx, dom, n, 10*time.Minute)
		}
		w.stop()
		if err != nil {
			return nil, err
		}
		base, err := e.asynqBaseline(ctx, n, nil)
		if err != nil {
			return nil, err
		}
		sends, err := e.asynqBaseline(ctx, n, e.fast)
		if err != nil {
			return nil, err
		}
		m, b, b2 := drainRate(n, end.Sub(e.fast.first(dom))), drainRate(n, base), drainRate(n, sends)
		r.muster, r.base, r.ratio = append(r.muster, m), append(r.base, b), append(r.ratio, m/b)
		r2.muster, r2.base, r2.ratio = append(r2.muster, m), append(r2.base, b2), append(r2.ratio, m/b2)
	}
	return []row{r, r2}, nil
}

// asynqBaseline runs n tasks through an Asynq server running as many at
// once as the worker does, each doing one INSERT and, with a sink, then
// sending one email to it over conns pooled go-mail connections; the
// tasks are enqueued as SendMany does. It returns the time from the first
// task done to the last (see drainRate).
func (e *env) asynqBaseline(ctx context.Context, n int, s *sink) (time.Duration, error) {
	if err := e.rc.FlushDB(ctx).Err(); err != nil {
		return 0, err
	}
	if _, err := e.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS bench_tasks (id bigint)`); err != nil {
		return 0, err
	}
	pool := make(chan *gomail.Client, conns)
	if s != nil {
		for range conns {
			cl, err := dialLoop(ctx, s)
			if err != nil {
				return 0, err
			}
			defer cl.Close()
			pool <- cl
		}
	}
	var done, first atomic.Int64 // first: when the first task was done, in ns
	all, failed := make(chan struct{}), make(chan error, 1)
	srv := asynq.NewServerFromRedisClient(e.rc, asynq.Config{
		Concurrency: workerConcurrency(), Queues: map[string]int{"base": 1}, TaskCheckInterval: 100 * time.Millisecond,
		LogLevel: asynq.ErrorLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("base", func(ctx context.Context, t *asynq.Task) error {
		i, _ := strconv.Atoi(string(t.Payload()))
		_, err := e.db.ExecContext(ctx, `INSERT INTO bench_tasks VALUES ($1)`, i)
		if err == nil && s != nil {
			cl := <-pool
			if err = cl.Send(loopMsg(i)); err != nil {
				select { // the sink never refuses: stop at once
				case failed <- err:
				default:
				}
			}
			pool <- cl
		}
		if err == nil {
			first.CompareAndSwap(0, time.Now().UnixNano())
			if done.Add(1) == int64(n) {
				close(all)
			}
		}
		return err
	})
	if err := srv.Start(mux); err != nil {
		return 0, err
	}
	defer srv.Shutdown()
	client := asynq.NewClientFromRedisClient(e.rc)
	time.Sleep(time.Second)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			_, err := client.EnqueueContext(gctx, asynq.NewTask("base", []byte(strconv.Itoa(i))), asynq.Queue("base"))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	select {
	case <-all:
	case err := <-failed:
		return 0, fmt.Errorf("asynq baseline: send: %w", err)
	case <-time.After(10 * time.Minute):
		return 0, fmt.Errorf("asynq baseline: %d of %d tasks done", done.Load(), n)
	}
	return time.Since(time.Unix(0, first.Load())), nil
}

// drainRate is a burst's rate from its first job done to its last, on
// both sides of (2): a burst of 2,000 lasts well under a second, and both
// sides' processors, asleep until their next poll (100 ms), would
// otherwise add up to a tenth of a second to it at random.
func drainRate(n int, d time.Duration) float64 { return float64(n-1) / d.Seconds() }

// workerConcurrency is WORKER_CONCURRENCY as the worker processes the bench
// starts read it (they inherit its environment).
func workerConcurrency() int {
	if n, err := strconv.Atoi(os.Getenv("WORKER_CONCURRENCY")); err == nil && n > 0 {
		return n
	}
	return config.DefaultConcurrency
}

// scaleOut is scenario 3: 1, 2 and 4 worker processes on the 50 ms sink.
func (e *env) scaleOut(ctx context.Context) ([]row, error) {
	n := e.o.sizes().scaleRows
	rates := map[int][]float64{}
	for range e.o.Runs {
		for _, k := range []int{1, 2, 4} {
			if err := e.fresh(ctx); err != nil {
				return nil, err
			}
			var ws []*proc
			for range k {
				w, err := e.start("worker", e.slow)
				if err != nil {
					return nil, err
				}
				ws = append(ws, w)
			}
			took, err := e.timeImport(ctx, e.slow, n)
			for _, w := range ws {
				w.stop()
			}
			if err != nil {
				return nil, err
			}
			rates[k] = append(rates[k], float64(n)/took.Seconds())
		}
	}
	var out []row
	for _, k := range []int{1, 2, 4} {
		r := row{name: fmt.Sprintf("(3) %d-row import, %d worker process(es), 50 ms sink", n, k), unit: "emails/s", muster: rates[k], base: rates[1]}
		for i := range rates[k] {
			r.ratio = append(r.ratio, rates[k][i]/rates[1][i])
		}
		if k == 2 {
			r.target = "≥ 1.8×"
		}
		out = append(out, r)
	}
	return out, nil
}

// fairness is scenario 4: client B's 20-row import while client A's large
// import sends, against B alone.
func (e *env) fairness(ctx context.Context) ([]row, error) {
	big := e.o.sizes().bigImport
	r := row{name: fmt.Sprintf("(4) client B's 20 emails during A's %d-row import, loopback sink", big), unit: "s", target: "≤ 5 s"}
	for range e.o.Runs {
		alone, err := e.smallImport(ctx, 0)
		if err != nil {
			return nil, err
		}
		during, err := e.smallImport(ctx, big)
		if err != nil {
			return nil, err
		}
		r.muster, r.base, r.ratio = append(r.muster, during.Seconds()), append(r.base, alone.Seconds()), append(r.ratio, during.Seconds()/alone.Seconds())
	}
	return []row{r}, nil
}

// smallImport times a 20-row import to its last email, after a bigger
// import of another client started sending (none for big == 0).
func (e *env) smallImport(ctx context.Context, big int) (time.Duration, error) {
	if err := e.fresh(ctx); err != nil {
		return 0, err
	}
	w, err := e.start("worker", e.fast)
	if err != nil {
		return 0, err
	}
	defer w.stop()
	if big > 0 {
		a, err := e.client(ctx)
		if err != nil {
			return 0, err
		}
		dom := "a" + strconv.FormatInt(a.ID, 10) + ".bench"
		if err := e.importRows(ctx, a.ID, dom, big); err != nil {
			return 0, err
		}
		if _, err := e.fast.wait(ctx, dom, min(big/10, 2_000), 10*time.Minute); err != nil {
			return 0, err
		}
	} else {
		time.Sleep(time.Second) // the worker connects, as it has in the other case
	}
	b, err := e.client(ctx)
	if err != nil {
		return 0, err
	}
	dom := "b" + strconv.FormatInt(b.ID, 10) + ".bench"
	start := time.Now()
	if err := e.importRows(ctx, b.ID, dom, 20); err != nil {
		return 0, err
	}
	end, err := e.fast.wait(ctx, dom, 20, 10*time.Minute)
	if err != nil {
		return 0, err
	}
	return end.Sub(start), nil
}

// apiLatency is scenario 5: a contractor list page at 200 requests a
// second, idle and while a large import sends, through a web process.
func (e *env) apiLatency(ctx context.Context) ([]row, error) {
	big := e.o.sizes().bigImport
	p50 := row{name: "(5) API p50 at 200 req/s, during a " + strconv.Itoa(big) + "-row import vs idle", unit: "ms"}
	p99 := row{name: "(5) API p99 at 200 req/s, during a " + strconv.Itoa(big) + "-row import vs idle", unit: "ms", target: "≤ 50 ms"}
	addr := fmt.Sprintf("127.0.0.1:%d", e.o.Port+2)
	for range e.o.Runs {
		if err := e.fresh(ctx); err != nil {
			return nil, err
		}
		web, err := e.start("web", e.fast, "HTTP_ADDR="+addr)
		if err != nil {
			return nil, err
		}
		w, err := e.start("worker", e.fast)
		if err != nil {
			web.stop()
			return nil, err
		}
		idle, busy, err := e.latencies(ctx, addr, big)
		w.stop()
		web.stop()
		if err != nil {
			return nil, err
		}
		p50.muster, p50.base, p50.ratio = append(p50.muster, pct(busy, 50)), append(p50.base, pct(idle, 50)), append(p50.ratio, pct(busy, 50)/pct(idle, 50))
		p99.muster, p99.base, p99.ratio = append(p99.muster, pct(busy, 99)), append(p99.base, pct(idle, 99)), append(p99.ratio, pct(busy, 99)/pct(idle, 99))
	}
	return []row{p50, p99}, nil
}

func (e *env) latencies(ctx context.Context, addr string, big int) (idle, busy []float64, err error) {
	token, err := e.db.CreateToken(ctx, muster.TokenStaff, 0, 0, "bench")
	if err != nil {
		return nil, nil, err
	}
	list, _, err := e.importInto(ctx, e.fast, 1_000) // a list to read
	if err != nil {
		return nil, nil, err
	}
	page := fmt.Sprintf("http://%s/v1/accounts/%d/contractors", addr, list.ID)
	if err := waitHTTP(ctx, page, token); err != nil {
		return nil, nil, err
	}
	secs := e.o.sizes().loadSeconds
	if idle, err = load(ctx, page, token, secs); err != nil {
		return nil, nil, err
	}
	a, err := e.client(ctx)
	if err != nil {
		return nil, nil, err
	}
	dom := "l" + strconv.FormatInt(a.ID, 10) + ".bench"
	if err := e.importRows(ctx, a.ID, dom, big); err != nil {
		return nil, nil, err
	}
	if _, err := e.fast.wait(ctx, dom, min(big/10, 2_000), 10*time.Minute); err != nil {
		return nil, nil, err
	}
	busy, err = load(ctx, page, token, secs)
	return idle, busy, err
}

func waitHTTP(ctx context.Context, url, token string) error {
	for range 100 {
		if _, err := get(ctx, url, token); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the API at %s did not answer", url)
}

// apiClient keeps its connections open, as an API client does: Go's default
// keeps two, and at 200 requests a second the rest would each pay for a
// new TCP connection, measuring the client instead of the API.
var apiClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

func get(ctx context.Context, url, token string) (time.Duration, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := apiClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body) // the whole page, and the connection back to the pool
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return took, nil
}

// load sends 200 requests a second for secs seconds, each on its own
// schedule (an open loop: a slow answer does not delay the next request).
func load(ctx context.Context, url, token string, secs int) ([]float64, error) {
	var mu sync.Mutex
	var ms []float64
	var wg sync.WaitGroup
	var failed atomic.Value
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for range 200 * secs {
		<-tick.C
		wg.Go(func() {
			d, err := get(ctx, url, token)
			if err != nil {
				failed.Store(err)
				return
			}
			mu.Lock()
			ms = append(ms, float64(d.Microseconds())/1000)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return nil, err
	}
	return ms, nil
}

func pct(xs []float64, p int) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[min(len(s)-1, len(s)*p/100)]
}

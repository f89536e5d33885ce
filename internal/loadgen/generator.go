package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Generator sends traces as its Config says and records what came of them.
type Generator struct {
	cfg      Config
	seed     int64
	services []service
	rec      *recorder
	started  atomic.Bool
}

// New returns a Generator for cfg, which must be valid.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	return &Generator{
		cfg:      cfg,
		seed:     seed,
		services: newServices(cfg.Services),
		rec:      newRecorder(),
	}, nil
}

// Run is New followed by Generator.Run.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	g, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return g.Run(ctx)
}

// Seed is the seed the run uses, the one to set in Config.Seed to send the
// same traces again.
func (g *Generator) Seed() int64 { return g.seed }

// Progress is the count so far; it can be called while Run runs.
func (g *Generator) Progress() Progress { return g.rec.snapshot() }

// Run sends traces until ctx ends or Config.Traces are sent, then waits for
// the requests in flight, each bounded by Config.RequestTimeout, so that
// every request sent has an outcome in the Result. It returns an error only when it cannot start; a
// Generator runs once.
func (g *Generator) Run(ctx context.Context) (*Result, error) {
	if !g.started.CompareAndSwap(false, true) {
		return nil, errors.New("loadgen: generator already ran")
	}
	clients := make([]client, 0, g.cfg.Workers)
	defer func() {
		// Shutting down waits for nothing: no request is in flight by now.
		stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.RequestTimeout)
		defer cancel()
		for _, c := range clients {
			_ = c.shutdown(stop)
		}
	}()
	for range g.cfg.Workers {
		c, err := newClient(ctx, g.cfg, g.services)
		if err != nil {
			return nil, fmt.Errorf("loadgen: %w", err)
		}
		clients = append(clients, c)
	}

	start := time.Now()
	pace := newPacer(g.cfg.Rate)
	var wg sync.WaitGroup
	for i, c := range clients {
		traces := newTraceBuilder(g.cfg, g.services, g.seed, i)
		share := g.share(i)
		wg.Go(func() { g.work(ctx, c, traces, pace, share) })
	}
	wg.Wait()
	return g.rec.result(time.Since(start)), nil
}

// share is how many traces worker i sends, -1 for no limit. Each worker
// has a fixed share, rather than all drawing from one count, so that a seed
// gives the same traces whichever worker is faster.
func (g *Generator) share(i int) int64 {
	if g.cfg.Traces == 0 {
		return -1
	}
	w := int64(g.cfg.Workers)
	n := g.cfg.Traces / w
	if int64(i) < g.cfg.Traces%w {
		n++
	}
	return n
}

// work is one worker: wait for its turn, build a request of up to left
// traces (-1: no limit), send it, record.
func (g *Generator) work(ctx context.Context, c client, traces *traceBuilder, pace *pacer, left int64) {
	// A request already sent must finish even when ctx ends: abandoned, it
	// would have no outcome to record.
	sendCtx := context.WithoutCancel(ctx)
	var b batch
	for left != 0 {
		n := g.cfg.BatchTraces
		if left > 0 {
			n = int(min(int64(n), left))
			left -= int64(n)
		}
		if !pace.wait(ctx, n) {
			return
		}
		traces.fill(&b, n, time.Now())
		g.rec.sent(b.spanCount())
		start := time.Now()
		if class := c.export(sendCtx, &b); class != "" {
			g.rec.failed(&b, class)
		} else {
			g.rec.acked(&b, time.Since(start))
		}
	}
}

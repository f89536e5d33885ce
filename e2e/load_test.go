package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/spanlog/spanlog/internal/loadgen"
)

// backgroundLoad is the load generator running while a test changes the
// fleet or injects faults.
type backgroundLoad struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the run returned res and err
	res    *loadgen.Result
	err    error
}

// startLoad runs the load generator with cfg in the background for d, or
// until stop when d is 0. The test's end stops it and waits for it.
func startLoad(t *testing.T, cfg loadgen.Config, d time.Duration) *backgroundLoad {
	ctx, cancel := context.WithCancel(context.Background())
	if d > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), d)
	}
	l := &backgroundLoad{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.res, l.err = loadgen.Run(ctx, cfg)
	}()
	t.Cleanup(func() {
		cancel()
		<-l.done
	})
	return l
}

// stop ends the load now; wait returns its result.
func (l *backgroundLoad) stop() { l.cancel() }

// wait waits until the load ends and returns what it sent, and fails the
// test if any request failed or nothing was acked.
func (l *backgroundLoad) wait(t *testing.T) *loadgen.Result {
	t.Helper()
	<-l.done
	if l.err != nil {
		t.Fatalf("load: %v", l.err)
	}
	if len(l.res.Acked) == 0 || l.res.FailedRequests > 0 {
		t.Fatalf("load: acked %d traces, %d requests failed: %v", len(l.res.Acked), l.res.FailedRequests, l.res.Errors)
	}
	return l.res
}

// sendFor runs the load generator for d, as wait checks it.
func sendFor(t *testing.T, cfg loadgen.Config, d time.Duration) *loadgen.Result {
	t.Helper()
	return startLoad(t, cfg, d).wait(t)
}

package loadgen

import (
	"context"
	"sync"
	"time"
)

// pacer hands out send times so that all workers together keep to a rate of
// traces per second.
type pacer struct {
	rate float64 // traces per second; 0 does not pace

	mu   sync.Mutex
	next time.Time
}

func newPacer(rate float64) *pacer {
	return &pacer{rate: rate}
}

// wait blocks until a request of n traces may be sent, and reports false if
// ctx ended first.
func (p *pacer) wait(ctx context.Context, n int) bool {
	if p.rate == 0 {
		return ctx.Err() == nil
	}
	p.mu.Lock()
	now := time.Now()
	// A slot nobody took in time is gone: an endpoint slower than the rate
	// gets less load, not a burst when it recovers.
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(time.Duration(float64(n) * float64(time.Second) / p.rate))
	p.mu.Unlock()

	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

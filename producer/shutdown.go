package producer

import (
	"context"
	"sync"
	"time"
)

// inflight tracks the Pushes in progress, so that a stopping distributor
// refuses new ones at once and waits for the others: their acks are real.
type inflight struct {
	mu      sync.RWMutex
	stopped bool
	wg      sync.WaitGroup
}

// enter registers a Push, or reports false once stop was called.
func (f *inflight) enter() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.stopped {
		return false
	}
	f.wg.Add(1)
	return true
}

// leave ends a Push that enter registered.
func (f *inflight) leave() { f.wg.Done() }

// stop refuses further Pushes and waits for those in progress.
func (f *inflight) stop() {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *inflight) stopping() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.stopped
}

// replyGrace is how long clients get, once no Push is in flight any more,
// to take their replies before their connections are closed. It also cuts
// off clients still sending a body, whose requests would fail anyway. A
// client that misses an OK this way retries; its spans are in the log
// twice, and readers drop the duplicate.
const replyGrace = time.Second

// stop ends serving: both servers stop accepting at once, Pushes in flight
// finish (within WriteTimeout) while new ones fail with Unavailable, and
// connections still open replyGrace later are closed. So Run returns
// within about WriteTimeout + replyGrace of being told to stop.
func (d *Distributor) stop() {
	// http.Server.Shutdown returns early only when its context ends, and
	// then leaves connections open for Close.
	replies, cutOff := context.WithCancel(context.Background())
	defer cutOff()
	var servers sync.WaitGroup
	servers.Go(d.grpcServer.GracefulStop)
	servers.Go(func() {
		if err := d.httpServer.Shutdown(replies); err != nil {
			d.httpServer.Close()
		}
	})
	d.pushes.stop()

	stopped := make(chan struct{})
	go func() {
		servers.Wait()
		close(stopped)
	}()
	t := time.NewTimer(replyGrace)
	defer t.Stop()
	select {
	case <-stopped:
		return
	case <-t.C:
	}
	d.logger.Warn("closing client connections still open after the last request ended", "grace", replyGrace)
	cutOff()
	d.grpcServer.Stop()
	<-stopped
}

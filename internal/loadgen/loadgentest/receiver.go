// Package loadgentest provides OTLP receivers, over gRPC and HTTP, that
// record every request they get and fail some on demand, so that load
// generation can be tested without a spanlog. They are for tests only.
package loadgentest

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/trace"
)

// Options says which requests a Receiver fails and how slowly it answers.
type Options struct {
	// FailEvery fails every FailEvery-th request with gRPC Unavailable or
	// HTTP 503, after recording its spans, as a server that stored them and
	// then lost the connection would; 0 fails none.
	FailEvery int
	// PartialEvery answers every PartialEvery-th request OK with a partial
	// success rejecting one span; 0 never does. FailEvery wins when both
	// pick a request.
	PartialEvery int
	// Delay holds every answer this long, or until the client gives up.
	Delay time.Duration
	// KeepTraces keeps each request's spans whole, in Request.Traces.
	KeepTraces bool
}

// Reply is what a request was answered.
type Reply int

// Replies a Receiver gives.
const (
	ReplyOK Reply = iota
	ReplyFailed
	ReplyPartial
)

// Request is one request a Receiver got.
type Request struct {
	// Tenant is the X-Scope-OrgID header, empty when there was none.
	Tenant string
	Reply  Reply
	// Spans holds the IDs of the request's spans by trace.
	Spans map[trace.TraceID][]trace.SpanID
	// Traces is the request's spans whole, with Options.KeepTraces.
	Traces ptrace.Traces
}

// Receiver is a running fake OTLP endpoint.
type Receiver struct {
	// Endpoint is the host:port it listens on, on 127.0.0.1.
	Endpoint string

	opts     Options
	mu       sync.Mutex
	requests []Request
}

// Requests returns the requests received so far, in arrival order.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// Acked returns the spans of the requests answered OK, by trace.
func (r *Receiver) Acked() map[trace.TraceID][]trace.SpanID {
	out := make(map[trace.TraceID][]trace.SpanID)
	for _, req := range r.Requests() {
		if req.Reply != ReplyOK {
			continue
		}
		for id, spans := range req.Spans {
			out[id] = append(out[id], spans...)
		}
	}
	return out
}

// receive records a request and decides its reply; answer must be called
// with the returned ticket before replying.
func (r *Receiver) receive(tenant string, td ptrace.Traces) int {
	req := Request{Tenant: tenant, Spans: spanIDs(td)}
	if r.opts.KeepTraces {
		req.Traces = ptrace.NewTraces()
		td.CopyTo(req.Traces)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.requests) + 1
	switch {
	case r.opts.FailEvery > 0 && n%r.opts.FailEvery == 0:
		req.Reply = ReplyFailed
	case r.opts.PartialEvery > 0 && n%r.opts.PartialEvery == 0:
		req.Reply = ReplyPartial
	}
	r.requests = append(r.requests, req)
	return n - 1
}

// answer holds the answer to request i for Options.Delay and returns it.
// When the client gives up first, the request fails, as it would on a real
// server whose context ended.
func (r *Receiver) answer(ctx context.Context, i int) Reply {
	if r.opts.Delay > 0 {
		t := time.NewTimer(r.opts.Delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			r.mu.Lock()
			r.requests[i].Reply = ReplyFailed
			r.mu.Unlock()
		case <-t.C:
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[i].Reply
}

func spanIDs(td ptrace.Traces) map[trace.TraceID][]trace.SpanID {
	out := make(map[trace.TraceID][]trace.SpanID)
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				id := trace.TraceID(s.TraceID())
				out[id] = append(out[id], trace.SpanID(s.SpanID()))
			}
		}
	}
	return out
}

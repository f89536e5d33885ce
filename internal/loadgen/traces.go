package loadgen

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// batch is one export request: its spans, as either client sends them, and,
// to record them once acknowledged, their IDs by trace. A worker refills one
// batch for each of its requests.
type batch struct {
	spans  []span
	traces []traceSpans
	// attrs holds the attributes of every span and event of the batch;
	// theirs are windows on it.
	attrs []attribute.KeyValue
}

type traceSpans struct {
	id    trace.TraceID
	spans []trace.SpanID
}

// span is the one description of a span both clients build their requests
// from, so that they cannot send different spans for a seed. Its resource
// is its service's and its scope the generator's.
type span struct {
	traceID trace.TraceID
	id      trace.SpanID
	// parent is zero on a root span.
	parent        trace.SpanID
	kind          trace.SpanKind
	service       int
	name          string
	start, end    time.Time
	status        codes.Code
	statusMessage string
	attrs         []attribute.KeyValue
	// event is the span's one event, if its name is not empty.
	event event
}

type event struct {
	name  string
	time  time.Time
	attrs []attribute.KeyValue
}

// scopeName is the instrumentation scope of every span.
const scopeName = "github.com/spanlog/spanlog/internal/loadgen"

func (b *batch) spanCount() int { return len(b.spans) }

// Root spans last between these, log-uniformly, like requests to a web
// service: most are short, a few are slow.
const (
	minRootDuration = 5 * time.Millisecond
	maxRootDuration = 2 * time.Second
)

// node is a span being laid out; the tree is built before any span is, so a
// client span can be given the server span that answers it.
type node struct {
	id         trace.SpanID
	parent     int
	kind       trace.SpanKind
	service    int
	start, end time.Time
	call       call
	// answeredBy is the index of the server span answering a client span,
	// 0 while there is none (the root is never a child).
	answeredBy int
}

// traceBuilder lays out traces of one worker. It is not safe for concurrent
// use; each worker has its own, seeded from the run's seed and its index, so
// a seed reproduces every worker's sequence of traces.
type traceBuilder struct {
	rng        *rand.Rand
	services   []service
	spans      int
	attrs      int
	fillKeys   []attribute.Key
	fillValues []string
	nodes      []node
	scratch    []attribute.KeyValue
}

func newTraceBuilder(cfg Config, services []service, seed int64, worker int) *traceBuilder {
	return &traceBuilder{
		rng:        rand.New(rand.NewPCG(uint64(seed), uint64(worker))),
		services:   services,
		spans:      cfg.SpansPerTrace,
		attrs:      cfg.AttributesPerSpan,
		fillKeys:   fillKeys(cfg.AttributesPerSpan),
		fillValues: fillValues(),
		nodes:      make([]node, 0, cfg.SpansPerTrace),
	}
}

// fill refills out with traces traces ending at end. The span lists of the
// traces it held are left to whoever took them (recorder.acked).
func (b *traceBuilder) fill(out *batch, traces int, end time.Time) {
	out.spans = out.spans[:0]
	out.traces = out.traces[:0]
	out.attrs = out.attrs[:0]
	for range traces {
		out.traces = append(out.traces, b.trace(end, out))
	}
}

// trace appends one trace's spans to out and returns their IDs.
func (b *traceBuilder) trace(end time.Time, out *batch) traceSpans {
	ts := traceSpans{id: b.traceID(), spans: make([]trace.SpanID, 0, b.spans)}
	root := node{
		id:      b.spanID(),
		parent:  -1,
		kind:    trace.SpanKindServer,
		service: b.rng.IntN(len(b.services)),
		end:     end,
		call:    b.call(),
	}
	root.start = end.Add(-b.rootDuration())
	b.nodes = append(b.nodes[:0], root)
	for i := 1; i < b.spans; i++ {
		b.nodes = append(b.nodes, b.child(b.parentFor(i), i))
	}
	for i := range b.nodes {
		out.spans = append(out.spans, b.span(ts.id, i, out))
		ts.spans = append(ts.spans, b.nodes[i].id)
	}
	return ts
}

// parentFor picks the parent of span i among the spans before it. A random
// earlier span gives trees as deep as they are wide, roughly log(i) levels.
func (b *traceBuilder) parentFor(i int) int {
	p := b.rng.IntN(i)
	// A client span's only child is the server span that answers it.
	for b.nodes[p].answeredBy != 0 {
		p = b.nodes[p].answeredBy
	}
	return p
}

// child lays out span i under span p.
func (b *traceBuilder) child(p, i int) node {
	parent := &b.nodes[p]
	d := parent.end.Sub(parent.start)
	n := node{id: b.spanID(), parent: p}
	if parent.kind == trace.SpanKindClient {
		// The server's span sits inside the client's, shorter by the time
		// on the network either way.
		parent.answeredBy = i
		n.kind = trace.SpanKindServer
		n.service = parent.call.callee
		n.call = parent.call
		n.start = parent.start.Add(b.fraction(d, 0.1))
		n.end = parent.end.Add(-b.fraction(d, 0.1))
		return n
	}
	n.service = parent.service
	if b.rng.Float64() < 0.6 {
		n.kind = trace.SpanKindClient
		n.call = b.call()
		n.call.callee = b.callee(parent.service)
	} else {
		n.kind = trace.SpanKindInternal
		n.call.operation = b.rng.IntN(operationCount)
	}
	n.start = parent.start.Add(b.fraction(d, 0.5))
	n.end = n.start.Add(max(b.fraction(parent.end.Sub(n.start), 1), time.Microsecond))
	return n
}

// span turns node i into a span, its attributes appended to out.attrs.
func (b *traceBuilder) span(tid trace.TraceID, i int, out *batch) span {
	n := &b.nodes[i]
	s := span{
		traceID: tid,
		id:      n.id,
		kind:    n.kind,
		service: n.service,
		start:   n.start,
		end:     n.end,
	}
	if n.parent >= 0 {
		s.parent = b.nodes[n.parent].id
	}
	b.describe(&s, n, out)
	return s
}

// callee picks the service a client span calls: another one when there is.
func (b *traceBuilder) callee(caller int) int {
	if len(b.services) == 1 {
		return caller
	}
	return (caller + 1 + b.rng.IntN(len(b.services)-1)) % len(b.services)
}

func (b *traceBuilder) rootDuration() time.Duration {
	lo, hi := math.Log(float64(minRootDuration)), math.Log(float64(maxRootDuration))
	return time.Duration(math.Exp(lo + b.rng.Float64()*(hi-lo)))
}

// fraction is a random part of d, at most share of it.
func (b *traceBuilder) fraction(d time.Duration, share float64) time.Duration {
	return time.Duration(b.rng.Float64() * share * float64(d))
}

func (b *traceBuilder) traceID() trace.TraceID {
	var id trace.TraceID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:8], b.rng.Uint64())
		binary.BigEndian.PutUint64(id[8:], b.rng.Uint64())
	}
	return id
}

func (b *traceBuilder) spanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:], b.rng.Uint64())
	}
	return id
}

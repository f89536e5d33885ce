package loadgen

import (
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Result is the account of a run.
type Result struct {
	// Acked holds the ID of every span of every acknowledged request,
	// grouped by trace. A trace is never split across requests, so each
	// trace's list is complete and holds no duplicates.
	Acked map[trace.TraceID][]trace.SpanID
	// AckedRequests and AckedSpans count the requests that got OK and the
	// spans in them.
	AckedRequests, AckedSpans int64
	// FailedRequests and FailedSpans count the requests that got anything
	// else, and the spans in them; those spans may or may not be stored.
	FailedRequests, FailedSpans int64
	// Errors counts failed requests by class: "grpc <code name>" or
	// "http <status code>" for an answer from the endpoint, "http timeout"
	// or "http no response" when none came, "<protocol> OK with error" when
	// the endpoint said OK but rejected part of the request (a partial
	// success) or sent an unreadable answer, and "<protocol> not sent" when
	// the exporter refused the request before sending it.
	Errors map[string]int64
	// Latency is the duration of the acknowledged requests.
	Latency Latency
	// Elapsed is the wall-clock time the run took.
	Elapsed time.Duration
}

func newResult() *Result {
	return &Result{
		Acked:  make(map[trace.TraceID][]trace.SpanID),
		Errors: make(map[string]int64),
	}
}

// AckedSpansPerSecond is the throughput the endpoint acknowledged.
func (r *Result) AckedSpansPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.AckedSpans) / r.Elapsed.Seconds()
}

// Merge adds the account of another run, taken to have run alongside r: the
// longer Elapsed is kept. Runs with the same non-zero seed share trace IDs;
// their span lists are appended, not deduplicated.
func (r *Result) Merge(o *Result) {
	if r.Acked == nil {
		r.Acked = make(map[trace.TraceID][]trace.SpanID, len(o.Acked))
	}
	for id, spans := range o.Acked {
		r.Acked[id] = append(r.Acked[id], spans...)
	}
	if r.Errors == nil {
		r.Errors = make(map[string]int64, len(o.Errors))
	}
	for class, n := range o.Errors {
		r.Errors[class] += n
	}
	r.AckedRequests += o.AckedRequests
	r.AckedSpans += o.AckedSpans
	r.FailedRequests += o.FailedRequests
	r.FailedSpans += o.FailedSpans
	r.Latency.Merge(&o.Latency)
	r.Elapsed = max(r.Elapsed, o.Elapsed)
}

// Progress is a running count, for reports while a run goes on.
type Progress struct {
	// SentRequests and SentSpans count the requests started, whether or
	// not they have finished.
	SentRequests, SentSpans     int64
	AckedRequests, AckedSpans   int64
	FailedRequests, FailedSpans int64
}

// recorder is where workers report the outcome of their requests.
type recorder struct {
	mu                      sync.Mutex
	res                     *Result
	sentRequests, sentSpans int64
}

func newRecorder() *recorder {
	return &recorder{res: newResult()}
}

func (r *recorder) sent(spans int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sentRequests++
	r.sentSpans += int64(spans)
}

// acked takes ownership of the batch's span lists.
func (r *recorder) acked(b *batch, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range b.traces {
		// A trace ID repeats only by chance; appending keeps both.
		if prev, ok := r.res.Acked[t.id]; ok {
			r.res.Acked[t.id] = append(prev, t.spans...)
		} else {
			r.res.Acked[t.id] = t.spans
		}
	}
	r.res.AckedRequests++
	r.res.AckedSpans += int64(b.spanCount())
	r.res.Latency.Observe(took)
}

func (r *recorder) failed(b *batch, class string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Errors[class]++
	r.res.FailedRequests++
	r.res.FailedSpans += int64(b.spanCount())
}

func (r *recorder) snapshot() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Progress{
		SentRequests:   r.sentRequests,
		SentSpans:      r.sentSpans,
		AckedRequests:  r.res.AckedRequests,
		AckedSpans:     r.res.AckedSpans,
		FailedRequests: r.res.FailedRequests,
		FailedSpans:    r.res.FailedSpans,
	}
}

// result hands over the account; the recorder must not be used afterwards.
func (r *recorder) result(elapsed time.Duration) *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Elapsed = elapsed
	return r.res
}

package querytest

import (
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Base is the time of the first span of test traces.
var Base = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// TraceSpans returns spans of trace id, starting minute minutes after
// Base, one per span number. A span's content is a function of its
// arguments alone, so copies of it in several places are true duplicates.
func TraceSpans(id pcommon.TraceID, minute int, numbers ...int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%x", id[0]%4))
	ss := rs.ScopeSpans().AppendEmpty()
	for _, n := range numbers {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(id)
		s.SetSpanID(pcommon.SpanID{0: id[0], 1: id[1], 7: byte(n + 1)})
		s.SetName(fmt.Sprintf("op-%d", n))
		start := Base.Add(time.Duration(minute)*time.Minute + time.Duration(n)*time.Millisecond)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Millisecond)))
		s.Attributes().PutInt("n", int64(n))
	}
	return td
}

// SpanSet renders td's spans, sorted, for comparison.
func SpanSet(td ptrace.Traces) []string {
	var out []string
	for _, rs := range td.ResourceSpans().All() {
		svc, _ := rs.Resource().Attributes().Get("service.name")
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				out = append(out, fmt.Sprintf("%s/%s %s %s %d", s.TraceID(), s.SpanID(), svc.Str(), s.Name(), s.StartTimestamp()))
			}
		}
	}
	slices.Sort(out)
	return out
}

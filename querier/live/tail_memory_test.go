package live

import (
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestLiveTailMemoryStaysWithinItsBound fills live tails to ten times their
// bound, as a querier whose block-builders stopped fills it, and measures
// the heap they hold: it must stay within the bound, whether records are
// large or hold many small traces (where the trace index costs most), and
// although each record's value points into a larger fetch buffer, as
// franz-go's do.
func TestLiveTailMemoryStaysWithinItsBound(t *testing.T) {
	const bound = 8 << 20
	for _, c := range []struct {
		name                  string
		tracesPerRecord, attr int
	}{
		{"large records", 4, 4096},
		{"many small traces", 64, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := heapInUse()
			live := NewTail(bound, map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0})
			var added int64
			var fetch []byte // the buffer of the fetch records are read from
			for off := int64(0); added < 10*bound; off++ {
				td := ptrace.NewTraces()
				ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
				for i := range c.tracesPerRecord {
					s := ss.Spans().AppendEmpty()
					s.SetTraceID(pcommon.TraceID{0: byte(off), 1: byte(off >> 8), 2: byte(off >> 16), 15: byte(i)})
					s.SetSpanID(pcommon.SpanID{7: 1})
					s.SetName("span")
					if c.attr > 0 {
						s.Attributes().PutStr("payload", string(make([]byte, c.attr)))
					}
				}
				value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
				if err != nil {
					t.Fatal(err)
				}
				if len(fetch) < len(value) {
					fetch = make([]byte, 1<<20)
				}
				n := copy(fetch, value)
				live.Add("a", int32(off%4), off/4, time.Unix(0, off), fetch[:n:n], td)
				fetch = fetch[n:]
				added += int64(n)
			}
			fetch = nil
			records, size := live.Size()
			held := heapInUse() - before
			var values, traces int64
			for _, p := range live.parts {
				for _, lt := range p.tenants {
					for _, r := range lt.records {
						values += int64(cap(r.value))
						traces += int64(len(r.traceIDs))
					}
				}
			}
			t.Logf("%d records, %d bytes counted, %d bytes of heap held, bound %d; values %d, traces %d, overhead per trace if %d per record: %d", records, size, held, bound, values, traces, liveRecordOverhead, (held-values-int64(records)*liveRecordOverhead)/max(traces, 1))
			if size > bound {
				t.Errorf("counted %d bytes, over the bound of %d", size, bound)
			}
			if held > bound*11/10 {
				t.Errorf("the live tail holds %d bytes of heap, over its bound of %d", held, bound)
			}
			runtime.KeepAlive(live)
		})
	}
}

// heapInUse returns the bytes of the heap in use after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

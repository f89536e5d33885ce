package live

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/schema"
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
			rng := rand.NewChaCha8([32]byte{})
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
						// Random, so that it does not compress.
						payload := make([]byte, c.attr/2)
						_, _ = rng.Read(payload)
						s.Attributes().PutStr("payload", hex.EncodeToString(payload))
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
				live.Add("a", int32(off%4), off/4, time.Unix(0, off), fetch[:n:n], schema.AppendRows(nil, td))
				fetch = fetch[n:]
				added += int64(n)
			}
			fetch = nil
			records, size := live.Size()
			held := heapInUse() - before
			var values, indexes, traces int64
			for _, p := range live.parts {
				for _, lt := range p.tenants {
					for _, r := range lt.records {
						values += int64(cap(r.held))
						indexes += int64(cap(r.index))
						traces += int64(len(r.traces))
					}
				}
			}
			t.Logf("%d records, %d bytes counted, %d bytes of heap held, bound %d; values %d, indexes %d, traces %d, overhead per trace if %d per record: %d",
				records, size, held, bound, values, indexes, traces, liveRecordOverhead, (held-values-indexes-int64(records)*liveRecordOverhead)/max(traces, 1))
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

// TestLiveTailHoldsRecordsCompressed fills a live tail with records of the
// load generator's shapes and checks that it holds each record compressed,
// losslessly, and nothing decoded: what it counts against its bound is
// each compressed value and its index, fewer bytes than the records came
// in.
func TestLiveTailHoldsRecordsCompressed(t *testing.T) {
	records := loadRecords(t, 20_000)
	live := NewTail(1<<40, map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0})
	var given int64
	values := make(map[int32][][]byte) // by partition, in offset order
	for i, r := range records {
		live.Add("single-tenant", r.partition, int64(i), time.Unix(0, int64(i)), r.value, r.rows)
		given += int64(len(r.value))
		values[r.partition] = append(values[r.partition], r.value)
	}
	var counted int64
	for _, key := range live.keys.keys {
		counted += int64(len(key)) + keyCost
	}
	for p := range values {
		for _, r := range live.parts[p].tenants["single-tenant"].records {
			counted += r.cost()
		}
	}
	n, size := live.Size()
	if n != len(records) || size != counted {
		t.Fatalf("the tail counts %d records, %d bytes; it holds %d records, %d bytes with their index", n, size, len(records), counted)
	}
	if size >= given {
		t.Fatalf("the tail holds %d bytes for records of %d bytes: not compressed", size, given)
	}
	for p, want := range values {
		held := live.parts[p].tenants["single-tenant"].records
		if len(held) != len(want) {
			t.Fatalf("partition %d: the tail holds %d records of %d", p, len(held), len(want))
		}
		for i, r := range held {
			value, err := s2.Decode(nil, r.held)
			if err != nil || !bytes.Equal(value, want[i]) {
				t.Fatalf("partition %d offset %d: the tail holds %d bytes that do not decode to the record (%v)", p, r.offset, len(r.held), err)
			}
		}
	}
	if n := live.Decoded(); n != 0 {
		t.Fatalf("%d records decoded before any query", n)
	}
}

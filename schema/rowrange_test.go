package schema

import (
	"reflect"
	"slices"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/internal/spantest"
)

// checkRowRange decodes value in cuts+1 ranges of trace IDs, with the
// spans' trace IDs read, given, and given with the spans of each resource
// spans, and checks each range against the rows
// of spanFilter's copy of it (as AppendRange did before it had a direct
// path), and the ranges together against the whole value's rows: a range
// fails exactly when its copy does, and one of them exactly when the
// value fails to scan or to decode. It reports whether the direct path
// took every range.
func checkRowRange(t *testing.T, value []byte, cuts int) (direct bool) {
	t.Helper()
	direct = true
	ranges, scanErr := rangesOf(value, cuts)
	whole, wholeErr := pdataRows(value)
	for _, given := range []string{"nothing", "trace IDs", "trace IDs and counts"} {
		if given != "nothing" && scanErr != nil {
			continue
		}
		// One decoder for every range, as a block's parts share one.
		var d, wire RowDecoder
		var sf spanFilter
		prefix := []SpanRow{{Name: "before"}}
		failed := false
		for _, r := range ranges {
			switch given {
			case "nothing":
				r.TraceIDs, r.ResourceSpans = nil, nil
			case "trace IDs":
				r.ResourceSpans = nil
			}
			want, wantErr := filteredRows(&sf, value, r)
			rows, ok := wire.AppendRangeWire(prefix[:1:1], value, r)
			direct = direct && ok
			if ok && wantErr != nil {
				t.Fatalf("range %x to %x: direct path decoded a range whose copy fails: %v", r.Lo, r.Hi, wantErr)
			}
			if ok && !sameRows(rows[1:], want) {
				t.Fatalf("range %x to %x: direct path rows differ from the copy's:\n got %+v\nwant %+v", r.Lo, r.Hi, rows[1:], want)
			}
			rows, err := d.AppendRange(prefix[:1:1], value, r)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("range %x to %x: AppendRange error %v, the copy's %v", r.Lo, r.Hi, err, wantErr)
			}
			if len(rows) == 0 || rows[0].Name != "before" {
				t.Fatalf("AppendRange lost the rows it was given")
			}
			if err != nil {
				failed = true
				continue
			}
			if !sameRows(rows[1:], want) {
				t.Fatalf("range %x to %x: AppendRange rows differ from the copy's:\n got %+v\nwant %+v", r.Lo, r.Hi, rows[1:], want)
			}
			if wholeErr == nil {
				var in []SpanRow
				for _, row := range whole {
					if r.contains(&row.TraceID) {
						in = append(in, row)
					}
				}
				if !sameRows(rows[1:], in) {
					t.Fatalf("range %x to %x: rows differ from the whole value's in the range:\n got %+v\nwant %+v", r.Lo, r.Hi, rows[1:], in)
				}
			}
		}
		if fails := wholeErr != nil || scanErr != nil && scanErr != ErrNoSpans; failed != fails {
			t.Fatalf("a range failed: %v; the value fails to scan (%v) or decode (%v)", failed, scanErr, wholeErr)
		}
	}
	return direct
}

// filteredRows is the rows of spanFilter's copy of value's spans in r.
func filteredRows(sf *spanFilter, value []byte, r SpanRange) ([]SpanRow, error) {
	out, err := sf.filter(value, r.Lo, r.Hi, r.First)
	if err != nil {
		return nil, err
	}
	return pdataRows(out)
}

func sameRows(got, want []SpanRow) bool {
	return len(got) == 0 && len(want) == 0 || reflect.DeepEqual(got, want)
}

func TestAppendRangeMatchesTheCopyOfTheRange(t *testing.T) {
	for _, c := range []struct {
		name   string
		value  []byte
		direct bool
	}{
		{"scalar attributes", marshalForTest(t, rangeTraces(scalarTraces())), true},
		{"every value type", marshalForTest(t, rangeTraces(spantest.Full())), false},
		{"split and empty resources", marshalForTest(t, spanFilterTraces()), false},
		{"empty value", nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, cuts := range []int{0, 1, 2, 5} {
				if direct := checkRowRange(t, c.value, cuts); direct != c.direct {
					t.Errorf("%d cuts: the direct path took every range: %v, want %v", cuts, direct, c.direct)
				}
			}
		})
	}
	for name, value := range brokenValues() {
		t.Run("broken "+name, func(t *testing.T) {
			for _, cuts := range []int{0, 1, 3} {
				checkRowRange(t, value, cuts)
			}
		})
	}
}

// rangeTraces gives td's spans the trace IDs of 4 traces, interleaved
// across its resources and scopes.
func rangeTraces(td ptrace.Traces) ptrace.Traces {
	for i, span := range spantest.Spans(td) {
		span.SetTraceID(pcommon.TraceID{0: byte(i % 4 * 60)})
	}
	return td
}

// TraceIDs or counts of spans per resource spans that are not the
// value's (fewer, more, others for the spans in the range) send the value
// down spanFilter's way, which reads its own.
func TestAppendRangeChecksTheTraceIDsGiven(t *testing.T) {
	value := marshalForTest(t, rangeTraces(scalarTraces()))
	ranges, err := rangesOf(value, 1)
	if err != nil || len(ranges) != 2 {
		t.Fatalf("%d ranges, scan error %v", len(ranges), err)
	}
	r := ranges[1]
	want, err := pdataRows(value)
	if err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(want, func(row SpanRow) bool { return !r.contains(&row.TraceID) })
	ids := r.TraceIDs
	other := slices.Clone(ids)
	for i := range other {
		if r.contains(&other[i]) {
			other[i][15]++
		}
	}
	counts := r.ResourceSpans
	if len(counts) < 2 || counts[0] == 0 {
		t.Fatalf("spans per resource spans %v; the test wants 2 resource spans or more, the first with spans", counts)
	}
	moved := slices.Clone(counts)
	moved[0]--
	moved[1]++
	for name, given := range map[string]SpanRange{
		"fewer":                   {TraceIDs: ids[:len(ids)-1]},
		"more":                    {TraceIDs: append(slices.Clone(ids), ids[0])},
		"others":                  {TraceIDs: other},
		"fewer resource spans":    {TraceIDs: ids, ResourceSpans: counts[:len(counts)-1]},
		"more resource spans":     {TraceIDs: ids, ResourceSpans: append(slices.Clone(counts), 0)},
		"a span in the next one":  {TraceIDs: ids, ResourceSpans: moved},
		"a span in the first one": {TraceIDs: ids, ResourceSpans: append([]int32{counts[0] + 1, counts[1] - 1}, counts[2:]...)},
	} {
		r.TraceIDs, r.ResourceSpans = given.TraceIDs, given.ResourceSpans
		var d RowDecoder
		if _, ok := d.AppendRangeWire(nil, value, r); ok {
			t.Errorf("%s: the direct path took the value", name)
		}
		got, err := d.AppendRange(nil, value, r)
		if err != nil || !sameRows(got, want) {
			t.Errorf("%s: rows %+v, error %v; want %+v", name, got, err, want)
		}
	}
}

// A resource spans given a span more than it holds, the one that opens
// the next, in the range while the next one's others are not: the direct
// path, which would decode the first and pass over the next, refuses it.
func TestAppendRangeChecksTheSpansOfEachResourceSpans(t *testing.T) {
	a, b := pcommon.TraceID{0: 1}, pcommon.TraceID{0: 2}
	td := ptrace.NewTraces()
	for _, ids := range [][]pcommon.TraceID{{a, a}, {b, a}} {
		spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
		for i, id := range ids {
			s := spans.AppendEmpty()
			s.SetTraceID(id)
			s.SetSpanID(pcommon.SpanID{0: byte(spans.Len()), 1: byte(i)})
		}
	}
	value := marshalForTest(t, td)
	want, err := pdataRows(value)
	if err != nil {
		t.Fatal(err)
	}
	r := SpanRange{Lo: b, Hi: b, TraceIDs: [][16]byte{a, a, b, a}, ResourceSpans: []int32{3, 1}}
	want = slices.DeleteFunc(want, func(row SpanRow) bool { return !r.contains(&row.TraceID) })
	var d RowDecoder
	if _, ok := d.AppendRangeWire(nil, value, r); ok {
		t.Errorf("the direct path took the value")
	}
	got, err := d.AppendRange(nil, value, r)
	if err != nil || len(got) != 1 || !sameRows(got, want) {
		t.Errorf("rows %+v, error %v; want %+v", got, err, want)
	}
}

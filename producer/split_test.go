package producer

import (
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/schema"
)

// splitForTest runs the pure part of Push: index, assign, build.
func splitForTest(t testing.TB, td ptrace.Traces, maxValue int) ([]recordSize, []ptrace.Traces, error) {
	t.Helper()
	l, err := indexRequest(td, "tenant", testPartitions)
	if err != nil {
		return nil, nil, err
	}
	var m ptrace.ProtoMarshaler
	if got, want := l.size, m.TracesSize(td); got != want {
		t.Fatalf("layout size %d, want %d", got, want)
	}
	sizes, err := l.assign(maxValue, 0)
	if err != nil {
		return nil, nil, err
	}
	return sizes, l.build(td, sizes), nil
}

// checkSplit checks that records hold the spans want exactly once, each on
// its partition, each within maxValue, with the size assign predicted.
func checkSplit(t testing.TB, want []spanKey, sizes []recordSize, records []ptrace.Traces, maxValue int) {
	t.Helper()
	var m ptrace.ProtoMarshaler
	seen := make(map[spanKey]int)
	for i, r := range records {
		size := m.TracesSize(r)
		if size != sizes[i].total {
			t.Errorf("record %d: %d bytes, predicted %d", i, size, sizes[i].total)
		}
		if size > maxValue {
			t.Errorf("record %d: %d bytes, limit %d", i, size, maxValue)
		}
		for _, k := range keysOf(r) {
			seen[k]++
			if p := schema.Partition("tenant", k.trace, testPartitions); p != sizes[i].partition {
				t.Errorf("record %d of partition %d holds a span of partition %d", i, sizes[i].partition, p)
			}
		}
	}
	checkSpansOnce(t, seen, want)
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name           string
		traces, spans  int
		attrs          int
		maxValue       int
		wantMinRecords int
	}{
		{"one record per partition", 40, 5, 3, 1 << 20, testPartitions},
		{"split by trace", 200, 5, 3, 4 << 10, 20},
		{"trace exactly at limit", 1, 10, 3, 0, 1},
		{"many tiny traces", 1000, 1, 0, 1 << 10, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := testTraces(tc.traces, tc.spans, tc.attrs)
			maxValue := tc.maxValue
			if maxValue == 0 {
				var m ptrace.ProtoMarshaler
				maxValue = m.TracesSize(td)
			}
			want := keysOf(td)
			sizes, records, err := splitForTest(t, td, maxValue)
			if err != nil {
				t.Fatal(err)
			}
			if len(records) < tc.wantMinRecords {
				t.Errorf("%d records, want at least %d", len(records), tc.wantMinRecords)
			}
			checkSplit(t, want, sizes, records, maxValue)
		})
	}
}

func TestSplitKeepsStructure(t *testing.T) {
	td := testTraces(1, 4, 1)
	var m ptrace.ProtoMarshaler
	want, _ := m.MarshalTraces(td)
	_, records, err := splitForTest(t, td, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 1 {
		t.Fatalf("%d records, want 1", len(records))
	}
	// One trace holds every span: the record is the request itself.
	got, _ := m.MarshalTraces(records[0])
	if string(got) != string(want) {
		t.Error("a request of one trace changed on its way to a record")
	}
}

func TestSplitTraceTooLarge(t *testing.T) {
	td := testTraces(3, 50, 5)
	var m ptrace.ProtoMarshaler
	_, _, err := splitForTest(t, td, m.TracesSize(td)/4)
	tooLarge, ok := errors.AsType[*TraceTooLargeError](err)
	if !ok {
		t.Fatalf("err = %v, want TraceTooLargeError", err)
	}
	if tooLarge.Size <= tooLarge.Limit {
		t.Errorf("size %d within limit %d", tooLarge.Size, tooLarge.Limit)
	}
	if msg := err.Error(); !strings.Contains(msg, tooLarge.TraceID.String()) || !strings.Contains(msg, "max-record-bytes") {
		t.Errorf("message %q does not name the trace and the limit", msg)
	}
}

func TestInvalidSpans(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(ptrace.Span)
		problem string
	}{
		{"zero trace ID", func(s ptrace.Span) { s.SetTraceID([16]byte{}) }, "trace ID is missing or all zero"},
		{"zero span ID", func(s ptrace.Span) { s.SetSpanID([8]byte{}) }, "span ID is missing or all zero"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := testTraces(3, 3, 1)
			bad := td.ResourceSpans().At(1).ScopeSpans().At(0).Spans().At(1)
			bad.SetName("the-bad-one")
			tc.change(bad)
			_, _, err := splitForTest(t, td, 1<<20)
			invalid, ok := errors.AsType[*InvalidSpanError](err)
			if !ok {
				t.Fatalf("err = %v, want InvalidSpanError", err)
			}
			if invalid.Resource != 1 || invalid.Scope != 0 || invalid.Span != 1 {
				t.Errorf("located at %d/%d/%d, want 1/0/1", invalid.Resource, invalid.Scope, invalid.Span)
			}
			msg := err.Error()
			for _, want := range []string{tc.problem, `"the-bad-one"`, "resourceSpans[1].scopeSpans[0].spans[1]"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not contain %q", msg, want)
				}
			}
		})
	}
}

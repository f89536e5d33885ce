package schema

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/spanlog/spanlog/internal/spantest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestRowsRoundTrip(t *testing.T) {
	td := spantest.Full()
	got, err := TracesFromRows(AppendRows(nil, td))
	if err != nil {
		t.Fatal(err)
	}
	// Without reordering, even the grouping comes back as it was.
	if want, got := tracesJSON(t, td), tracesJSON(t, got); got != want {
		t.Errorf("round trip changed traces:\n got %s\nwant %s", got, want)
	}
}

func TestParquetRoundTrip(t *testing.T) {
	td := spantest.Full()
	rows := AppendRows(nil, td)
	SortRows(rows)

	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows); err != nil {
		t.Fatal(err)
	}
	read, err := parquet.Read[SpanRow](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := TracesFromRows(read)
	if err != nil {
		t.Fatal(err)
	}

	if n := got.ResourceSpans().Len(); n != td.ResourceSpans().Len() {
		t.Errorf("got %d resources, want %d", n, td.ResourceSpans().Len())
	}
	for i, rs := range got.ResourceSpans().All() {
		if n, want := rs.ScopeSpans().Len(), td.ResourceSpans().At(i).ScopeSpans().Len(); n != want {
			t.Errorf("resource %d: got %d scopes, want %d", i, n, want)
		}
	}
	want, gotSpans := spanJSONs(t, td), spanJSONs(t, got)
	if !slices.Equal(gotSpans, want) {
		for i := range min(len(want), len(gotSpans)) {
			if gotSpans[i] != want[i] {
				t.Fatalf("span %d differs:\n got %s\nwant %s", i, gotSpans[i], want[i])
			}
		}
		t.Fatalf("got %d spans, want %d", len(gotSpans), len(want))
	}
}

func TestSpecialDoublesRoundTrip(t *testing.T) {
	for _, d := range []float64{negZero(), nan(), inf()} {
		td := ptrace.NewTraces()
		span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		span.Attributes().PutDouble("d", d)
		span.Attributes().PutEmptySlice("a").AppendEmpty().SetDouble(d)

		got, err := TracesFromRows(AppendRows(nil, td))
		if err != nil {
			t.Fatal(err)
		}
		attrs := got.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
		v, _ := attrs.Get("d")
		a, _ := attrs.Get("a")
		for _, got := range []float64{v.Double(), a.Slice().At(0).Double()} {
			if bitsOf(got) != bitsOf(d) {
				t.Errorf("double %v came back as %v", d, got)
			}
		}
	}
}

func TestSearchColumns(t *testing.T) {
	i64 := func(i int64) *int64 { return &i }
	tests := []struct {
		name       string
		attrs      map[string]any
		method     string
		statusCode *int64
		url        string
	}{
		{name: "none", attrs: map[string]any{}},
		{
			name:   "current conventions",
			attrs:  map[string]any{"http.request.method": "POST", "http.response.status_code": 201, "url.full": "https://a/b"},
			method: "POST", statusCode: i64(201), url: "https://a/b",
		},
		{
			name:   "old conventions",
			attrs:  map[string]any{"http.method": "GET", "http.status_code": 404, "http.url": "https://c/d"},
			method: "GET", statusCode: i64(404), url: "https://c/d",
		},
		{
			name:   "current wins over old",
			attrs:  map[string]any{"http.method": "GET", "http.request.method": "PUT", "http.status_code": 1, "http.response.status_code": 2},
			method: "PUT", statusCode: i64(2),
		},
		{name: "status code as string", attrs: map[string]any{"http.status_code": "500"}, statusCode: i64(500)},
		{name: "status code not a number", attrs: map[string]any{"http.status_code": "oops"}},
		{name: "method not a string", attrs: map[string]any{"http.method": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", "svc")
			span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			if err := span.Attributes().FromRaw(tt.attrs); err != nil {
				t.Fatal(err)
			}
			r := AppendRows(nil, td)[0]
			if r.ServiceName != "svc" || r.HTTPMethod != tt.method || r.HTTPURL != tt.url {
				t.Errorf("got service %q method %q url %q, want svc %q %q", r.ServiceName, r.HTTPMethod, r.HTTPURL, tt.method, tt.url)
			}
			if (r.HTTPStatusCode == nil) != (tt.statusCode == nil) ||
				r.HTTPStatusCode != nil && *r.HTTPStatusCode != *tt.statusCode {
				t.Errorf("got status code %v, want %v", r.HTTPStatusCode, tt.statusCode)
			}
		})
	}
}

func TestSortRows(t *testing.T) {
	rows := []SpanRow{
		{TraceID: [16]byte{2}, StartUnixNano: 1, SpanID: [8]byte{1}},
		{TraceID: [16]byte{1}, StartUnixNano: 5, SpanID: [8]byte{1}},
		{TraceID: [16]byte{1}, StartUnixNano: 3, SpanID: [8]byte{2}},
		{TraceID: [16]byte{1}, StartUnixNano: 3, SpanID: [8]byte{1}},
	}
	SortRows(rows)
	want := []struct {
		trace, span byte
		start       uint64
	}{{1, 1, 3}, {1, 2, 3}, {1, 1, 5}, {2, 1, 1}}
	for i, w := range want {
		r := rows[i]
		if r.TraceID[0] != w.trace || r.SpanID[0] != w.span || r.StartUnixNano != w.start {
			t.Errorf("row %d: got trace %d start %d span %d, want %+v", i, r.TraceID[0], r.StartUnixNano, r.SpanID[0], w)
		}
	}
}

func TestTracesFromRowsCorruptValue(t *testing.T) {
	rows := []SpanRow{{Attrs: []Attribute{{Key: "k", Any: []byte{0x2a, 0x05, 0x01}}}}}
	if _, err := TracesFromRows(rows); !errors.Is(err, errAnyValue) {
		t.Fatalf("got error %v, want %v", err, errAnyValue)
	}
}

func TestEndBeforeStart(t *testing.T) {
	td := ptrace.NewTraces()
	span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetStartTimestamp(pcommon.Timestamp(^uint64(0)))
	span.SetEndTimestamp(1)
	r := AppendRows(nil, td)[0]
	if r.DurationNano != 2 || r.EndUnixNano() != 1 {
		t.Errorf("got duration %d end %d, want 2 and 1", r.DurationNano, r.EndUnixNano())
	}
}

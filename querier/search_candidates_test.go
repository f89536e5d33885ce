package querier

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// A condition judged from a search column (a span's url.full or
// http.request.method, its resource's service.name) passes every span the
// condition on the attribute passes, whatever the span holds: the key, the
// old key the column also copies, both, an empty string, another type,
// nothing. It may pass more (a span with the old key only), which phase 2
// then rules out, but never fewer: a trace it missed would be missing from
// the answer. A condition the column cannot judge so reads the attributes.
func TestSearchColumnsJudgeLikeTheAttributes(t *testing.T) {
	td := ptrace.NewTraces()
	spans := []map[string]any{
		{"url.full": "http://cart:8080/api/products/1234", "http.request.method": "GET"},
		{"url.full": "http://cart:8080/api/orders", "http.url": "http://cart:8080/api/products/1234"},
		{"http.url": "http://cart:8080/api/products/1234", "http.method": "GET"},
		{"url.full": "", "http.request.method": ""},
		{"url.full": int64(1234), "http.request.method": int64(7)},
		{},
	}
	for i, attrs := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		if i%2 == 0 {
			rs.Resource().Attributes().PutStr(schema.KeyServiceName, "cart")
		}
		span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		span.SetTraceID(pcommon.TraceID{15: byte(i + 1)})
		span.SetSpanID(pcommon.SpanID{7: byte(i + 1)})
		if err := span.Attributes().FromRaw(attrs); err != nil {
			t.Fatal(err)
		}
	}
	rows := schema.AppendRows(nil, td)

	for _, tc := range []struct {
		query  string
		column string
	}{
		{`{ span.url.full =~ ".*/api/products/123.*" }`, schema.ColumnHTTPURL},
		{`{ span.url.full != "http://cart:8080/api/orders" }`, ""}, // "" passes
		{`{ span.http.request.method = "GET" }`, schema.ColumnHTTPMethod},
		{`{ resource.service.name = "cart" }`, schema.ColumnServiceName},
		// The empty string passes: a null column cannot tell.
		{`{ span.url.full = "" }`, ""},
		{`{ span.url.full !~ "x.*" }`, ""},
		// The column holds the new key's value where both are set.
		{`{ span.http.url =~ ".*/api/products/123.*" }`, ""},
		// Unscoped: the resource's attribute too.
		{`{ .url.full =~ ".*/api/products/123.*" }`, ""},
		{`{ span.url.full = 1234 }`, ""},
		{`{ span.url.full != nil }`, ""},
	} {
		q, err := traceql.Parse(tc.query)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		conds := q.Conditions()
		if got := searchColumnOf(conds[0]); got != tc.column {
			t.Errorf("%s: judged from column %q, want %q", tc.query, got, tc.column)
		}
		f := newCandidateFilter(q)
		for i := range rows {
			want := conds[0].MatchesSpan(&rows[i])
			// The filter sees only the columns it asks a scan for.
			row := rows[i]
			if f.cols&(block.ServiceName|block.HTTPMethod|block.HTTPURL) != 0 {
				row.Attrs, row.ResourceAttrs = nil, nil
			}
			if got := f.matches(&row); want && !got {
				t.Errorf("%s on span %d (%v): the filter rules out a span that matches", tc.query, i, spans[i])
			}
		}
	}
}

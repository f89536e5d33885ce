package block_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/spantest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

var writeV2Fixture = flag.Bool("write-v2-fixture", false, "write testdata/v2 with the current block writer (which must write format v2)")

// v2FixtureOptions cut the fixture's 69 spans into 5 row groups, of
// several pages in the attribute columns.
var v2FixtureOptions = block.Options{RowsPerRowGroup: 16, PageBufferSizeBytes: 1 << 10}

// TestWriteV2Fixture writes testdata/v2, the block TestReadsFormatV2Blocks
// reads, when run with -write-v2-fixture:
//
//	go test ./block -run TestWriteV2Fixture -args -write-v2-fixture
//
// Only a build that writes format v2 may write it; it is kept, not
// rewritten, once the writer has moved on.
func TestWriteV2Fixture(t *testing.T) {
	if !*writeV2Fixture {
		t.Skip("writes testdata/v2 only with -write-v2-fixture")
	}
	ctx := context.Background()
	dir := filepath.Join("testdata", "v2")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	bkt, err := objstore.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	td := v2FixtureTraces()
	b := block.NewBuilder("fixture", v2FixtureOptions)
	b.Add(td)
	meta, err := b.Write(ctx, bkt, []schema.OffsetRange{{Partition: 1, Start: 1000, End: 1071}})
	if err != nil {
		t.Fatal(err)
	}
	if meta.Format != schema.BlockFormatV2 {
		t.Fatalf("the writer writes format %q, not %q: keep the committed fixture", meta.Format, schema.BlockFormatV2)
	}
	// A fixed creation time: written again, the fixture is the same.
	meta.Created = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	metaJSON, err := schema.MarshalMeta(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := bkt.Upload(ctx, block.MetaName(meta.Tenant, meta.BlockID), bytes.NewReader(metaJSON)); err != nil {
		t.Fatal(err)
	}
	raw, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "traces.pb"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := block.Open(ctx, bkt, meta)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.RowGroups() < 3 || len(r.SplitTraces()) == 0 {
		t.Fatalf("%d row groups, %d traces split across them; want at least 3 and 1", r.RowGroups(), len(r.SplitTraces()))
	}
	t.Logf("block %s: %d spans, %d traces, %d row groups, %d bytes; traces.pb %d bytes",
		meta.BlockID, meta.TotalSpans, meta.TotalTraces, r.RowGroups(), meta.Size, len(raw))
}

// v2FixtureTraces returns the fixture's traces: 14 traces over five
// resources (one without attributes, one whose service.name is not a
// string) of up to three scopes each (one without name or attributes),
// with schema URLs and dropped counts, attributes of every value type on
// resources, scopes, spans, events and links, old and new HTTP keys of
// the search columns, two spans with every field set (spantest.FillSpan),
// and a span with nothing but its IDs. It is deterministic.
func v2FixtureTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	var scopes [][]ptrace.SpanSlice // per resource, per scope
	for r := range 5 {
		rs := td.ResourceSpans().AppendEmpty()
		res := rs.Resource()
		a := res.Attributes()
		switch r {
		case 0:
			rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
			a.PutStr("service.name", "checkout")
			a.PutStr("deployment.environment.name", "production")
			spantest.PutEveryValueType(a, "res.")
			res.SetDroppedAttributesCount(2)
		case 1:
			rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.21.0")
			a.PutStr("service.name", "payments")
			a.PutStr("deployment.environment.name", "canary")
			a.PutInt("process.pid", 4242)
			a.PutDouble("host.load", 0.75)
			a.PutBool("feature.enabled", true)
			a.PutEmptyBytes("host.id").FromRaw([]byte{0xde, 0xad, 0xbe, 0xef})
			args := a.PutEmptySlice("process.command_args")
			args.AppendEmpty().SetStr("payments")
			args.AppendEmpty().SetStr("--port=8080")
			labels := a.PutEmptyMap("k8s.pod.labels")
			labels.PutStr("app", "payments")
			labels.PutInt("replica", 3)
		case 2:
			a.PutStr("service.name", "frontend")
			a.PutStr("deployment.environment.name", "canary")
			a.PutStr("service.version", "2.0.0")
			a.PutInt("process.pid", 7)
			a.PutDouble("host.load", -1.5)
			a.PutBool("feature.enabled", false)
			res.SetDroppedAttributesCount(1)
		case 3:
			// No attributes, no service.
		case 4:
			rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
			a.PutInt("service.name", 5) // not a string: no service_name
			a.PutStr("deployment.environment.name", "production")
			res.SetDroppedAttributesCount(9)
		}
		var spans []ptrace.SpanSlice
		for s := range 3 - (r+1)%2 {
			ss := rs.ScopeSpans().AppendEmpty()
			scope := ss.Scope()
			switch s {
			case 0:
				ss.SetSchemaUrl("https://opentelemetry.io/schemas/1.25.0")
				scope.SetName("net/http")
				scope.SetVersion("v1.2.3")
				if r == 0 {
					spantest.PutEveryValueType(scope.Attributes(), "scope.")
				} else {
					scope.Attributes().PutStr("library.language", "go")
				}
				scope.SetDroppedAttributesCount(3)
			case 1:
				scope.SetName("database/sql")
				scope.Attributes().PutStr("db.system", "postgresql")
				scope.Attributes().PutInt("pool.size", int64(10+r))
				scope.Attributes().PutDouble("pool.load", 0.5)
				scope.Attributes().PutBool("pool.shared", r%2 == 0)
				scope.SetDroppedAttributesCount(uint32(r))
			case 2:
				// No name, version or attributes.
			}
			spans = append(spans, ss.Spans())
		}
		scopes = append(scopes, spans)
	}

	const base = 1_700_000_000_000_000_000
	names := []string{"GET /cart", "POST /pay", "SELECT orders", "render", "GET /api/users"}
	n := 0 // spans made so far
	for tr := range 14 {
		traceID := pcommon.TraceID{byte(0x10 + 0x11*tr), byte(tr * 7), 0xab, byte(tr)}
		var parent pcommon.SpanID
		for s := range 3 + tr%5 {
			r := (tr + s) % 5
			span := scopes[r][(tr+2*s)%len(scopes[r])].AppendEmpty()
			start := uint64(base + tr*1_000_000_000 + s*1_000_000)
			if n == 11 || n == 40 {
				spantest.FillSpan(span, byte(n))
			} else {
				fillFixtureSpan(span, n, names[(tr+s)%len(names)], start)
			}
			span.SetTraceID(traceID)
			span.SetSpanID(pcommon.SpanID{byte(tr), byte(s), 0x5a, byte(n)})
			span.SetParentSpanID(parent)
			span.SetStartTimestamp(pcommon.Timestamp(start))
			if n == 23 {
				// An end before the start must read back as written.
				span.SetEndTimestamp(pcommon.Timestamp(start - 5_000))
			}
			parent = span.SpanID()
			n++
		}
	}
	// A span with nothing but its IDs, in the resource and scope without
	// attributes.
	bare := scopes[3][2].AppendEmpty()
	bare.SetTraceID(pcommon.TraceID{0xfe, 0xed})
	bare.SetSpanID(pcommon.SpanID{0xfe, 0xed})
	return td
}

// fillFixtureSpan sets a span's fields other than its IDs and start, from
// n, the number of spans made before it.
func fillFixtureSpan(span ptrace.Span, n int, name string, start uint64) {
	span.SetName(name)
	span.SetKind(ptrace.SpanKind(n % 6))
	span.SetEndTimestamp(pcommon.Timestamp(start + uint64(n+1)*12_345))
	switch n % 3 {
	case 1:
		span.Status().SetCode(ptrace.StatusCodeOk)
	case 2:
		span.Status().SetCode(ptrace.StatusCodeError)
		span.Status().SetMessage(fmt.Sprintf("error %d", n))
	}
	if n%4 == 0 {
		span.TraceState().FromRaw("vendor=x")
		span.SetFlags(0x101)
	}
	a := span.Attributes()
	// The search columns' keys, new and old.
	if n%5 == 0 {
		a.PutStr("http.method", []string{"GET", "POST"}[n%2])
		a.PutStr("http.url", fmt.Sprintf("http://shop.example.com/old/%d", n))
		a.PutStr("http.status_code", "404")
	} else {
		a.PutStr("http.request.method", []string{"GET", "POST", "PUT"}[n%3])
		a.PutStr("url.full", fmt.Sprintf("https://shop.example.com/item/%d", n))
		a.PutInt("http.response.status_code", []int64{200, 201, 404, 500}[n%4])
	}
	a.PutInt("app.retries", int64(n%4))
	a.PutDouble("app.ratio", float64(n)/8)
	a.PutBool("app.cached", n%2 == 0)
	if n%3 == 0 {
		a.PutEmptyBytes("app.payload").FromRaw([]byte{byte(n), 0, 0xff})
		tags := a.PutEmptySlice("app.tags")
		tags.AppendEmpty().SetStr("t")
		tags.AppendEmpty().SetInt(int64(n))
		a.PutEmptyMap("app.ctx").PutDouble("weight", 1.5)
	}
	if n%7 == 0 {
		span.SetDroppedAttributesCount(uint32(n % 5))
		span.SetDroppedEventsCount(1)
		span.SetDroppedLinksCount(2)
	}
	for e := range n % 3 {
		ev := span.Events().AppendEmpty()
		ev.SetTimestamp(pcommon.Timestamp(start + uint64(e+1)*100))
		ev.SetName([]string{"retry", "exception"}[e])
		ev.Attributes().PutStr("exception.message", "timeout")
		ev.Attributes().PutInt("attempt", int64(e))
		ev.Attributes().PutEmptySlice("stack").AppendEmpty().SetStr("main.go:12")
		ev.SetDroppedAttributesCount(uint32(e))
	}
	if n%4 == 1 {
		link := span.Links().AppendEmpty()
		link.SetTraceID(pcommon.TraceID{0xaa, byte(n)})
		link.SetSpanID(pcommon.SpanID{0xbb, byte(n)})
		link.TraceState().FromRaw("k=v")
		link.SetFlags(1)
		link.Attributes().PutStr("link.kind", "follows")
		link.Attributes().PutBool("link.sampled", true)
		link.SetDroppedAttributesCount(1)
	}
}

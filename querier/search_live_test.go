package querier

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// liveSearchTail returns a live tail of two partitions holding traces of
// scanBenchTrace's shape and of edgeTrace's, in records of several traces
// whose first halves come again in the next record of the partition:
// traces split across records, spans held twice.
func liveSearchTail(t *testing.T) *live.Tail {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	tail := live.NewTail(1<<30, map[int32]int64{0: 0, 1: 0})
	var m ptrace.ProtoMarshaler
	next := make(map[int32]int64)
	for off := range 60 {
		td := ptrace.NewTraces()
		for i := range 5 {
			trace := scanBenchTrace(rng, off)
			if i%2 == 1 {
				trace = edgeTrace(t, rng, 5*off+i)
			}
			trace.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		again := ptrace.NewTraces()
		td.ResourceSpans().At(0).CopyTo(again.ResourceSpans().AppendEmpty())
		for _, part := range []ptrace.Traces{td, again} {
			value, err := m.MarshalTraces(part)
			if err != nil {
				t.Fatal(err)
			}
			p := int32(off % 2)
			tail.Add(querytest.Tenant, p, next[p], time.Unix(0, int64(off)), value, schema.AppendRows(nil, part))
			next[p]++
		}
	}
	return tail
}

// edgeTrace returns a trace whose spans hold what filters read in every
// form the OTLP model allows: attributes of every type, some that TraceQL
// cannot compare, a span attribute hiding its resource's, a key held twice
// by one span, strings too long for a live tail's index, a service.name
// that is no string or missing, every status and kind, and a span that
// ends before it starts.
func edgeTrace(t *testing.T, rng *rand.Rand, n int) ptrace.Traces {
	t.Helper()
	td := ptrace.NewTraces()
	id := randomID(rng)
	start := querytest.Base.Add(time.Duration(n) * time.Second)
	for r := range 3 {
		rs := td.ResourceSpans().AppendEmpty()
		ra := rs.Resource().Attributes()
		switch (n + r) % 5 {
		case 0:
			ra.PutInt("service.name", 7)
		case 1:
		default:
			ra.PutStr("service.name", "edge-"+strconv.Itoa(rng.IntN(4)))
		}
		ra.PutStr("shadow", "resource")
		ra.PutInt("res.level", int64(rng.IntN(3)))
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for i := range 4 {
			s := spans.AppendEmpty()
			s.SetTraceID(id)
			var sid pcommon.SpanID
			copy(sid[:], id[:4])
			sid[6], sid[7] = byte(r), byte(i+1)
			s.SetSpanID(sid)
			s.SetName("edge " + strconv.Itoa(rng.IntN(3)))
			s.SetKind(ptrace.SpanKind(rng.IntN(6)))
			s.Status().SetCode(ptrace.StatusCode(rng.IntN(3)))
			if s.Status().Code() == ptrace.StatusCodeError {
				s.Status().SetMessage([]string{"boom", "", "bang"}[rng.IntN(3)])
			}
			begin := start.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(begin))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(begin.Add(time.Duration(rng.IntN(300)-20) * time.Millisecond)))
			a := s.Attributes()
			// The two keys are renamed to one below.
			a.PutStr("dupA", "first-"+strconv.Itoa(rng.IntN(2)))
			a.PutStr("dupB", "second-"+strconv.Itoa(rng.IntN(2)))
			// In one trace of three, on every span.
			if n%3 == 0 || rng.IntN(2) == 0 {
				a.PutStr("shadow", "span")
			}
			switch rng.IntN(6) {
			case 0:
				a.PutInt("num", int64(rng.IntN(10)))
			case 1:
				a.PutDouble("num", float64(rng.IntN(10))/2)
			case 2:
				a.PutBool("num", rng.IntN(2) == 0)
			case 3:
				a.PutEmptyBytes("num").FromRaw([]byte{1, 2})
			case 4:
				a.PutEmptySlice("num").AppendEmpty().SetStr("5")
			default:
				a.PutEmpty("num")
			}
			if rng.IntN(3) == 0 {
				a.PutEmptyMap("obj").PutStr("k", "v")
			}
			if rng.IntN(4) == 0 {
				a.PutStr("text", strings.Repeat("ab", 100+rng.IntN(100))+[]string{"x", "y"}[rng.IntN(2)])
			} else {
				a.PutStr("text", "short-"+strconv.Itoa(rng.IntN(5)))
			}
		}
	}
	// OTLP allows a key twice in one map, as the wire can carry it; the
	// model's API does not build one.
	value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	td, err = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(bytes.ReplaceAll(value, []byte("dupB"), []byte("dupA")))
	if err != nil {
		t.Fatal(err)
	}
	return td
}

// liveCandidatesOf returns the candidates of query the owner of tail's
// partitions digests, in JSON.
func liveCandidatesOf(t *testing.T, tail *live.Tail, query string) []byte {
	t.Helper()
	return liveCandidatesAsked(t, tail, candidatesArgs{Query: query, Lean: true})
}

// liveCandidatesAsked returns what the owner of tail's partitions answers
// to args, in JSON.
func liveCandidatesAsked(t *testing.T, tail *live.Tail, a candidatesArgs) []byte {
	t.Helper()
	args, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := digestCandidates(args)
	if err != nil {
		t.Fatal(err)
	}
	d, err := answer(liveSlice(t, tail))
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func liveSlice(t *testing.T, tail *live.Tail) live.Slice {
	t.Helper()
	s, _, err := tail.Slice([]string{querytest.Tenant}, []int32{0, 1}, nil, func(string, int32) int64 { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLiveCandidatesOfEveryTraceComeFromSummaries checks that the
// candidates of a search without a span filter come from the live tail's
// trace summaries, decoding no record, and are the parts that judging
// every span decoded gives: those of a filter every span passes.
func TestLiveCandidatesOfEveryTraceComeFromSummaries(t *testing.T) {
	tail := liveSearchTail(t)
	query, err := traceql.Parse(`{ name != "-" }`)
	if err != nil {
		t.Fatal(err)
	}
	every, err := json.Marshal(map[string][]partJSON{querytest.Tenant: decodedTenantParts(t, tail, newPartsPlan(query))})
	if err != nil {
		t.Fatal(err)
	}
	decoded := tail.Decoded()
	for _, query := range []string{"{}", ""} {
		if got := liveCandidatesOf(t, tail, query); !bytes.Equal(got, every) {
			t.Errorf("candidates of %q:\n%s\nwant those of every span:\n%s", query, got, every)
		}
	}
	if n := tail.Decoded() - decoded; n != 0 {
		t.Errorf("candidates without a span filter decoded %d records", n)
	}
}

// decodedTenantParts returns the parts plan needs of the test tenant's
// traces in tail, judged on every span decoded.
func decodedTenantParts(t *testing.T, tail *live.Tail, plan partsPlan) []partJSON {
	t.Helper()
	parts, err := decodedParts(liveSlice(t, tail), querytest.Tenant, plan, plan.everyPart())
	if err != nil {
		t.Fatal(err)
	}
	return parts
}

// TestLiveCandidatesComeFromTheIndex checks that a search's candidates in
// the live tail are judged from the records' indexes: they are exactly
// the parts that judging every span decoded gives, for filters on every
// field the index holds, in every scope, with every operator; yet no
// record is decoded but those holding a value too long for the index in
// a field the filter tests (and every record for a filter on IDs, which
// the index does not hold).
func TestLiveCandidatesComeFromTheIndex(t *testing.T) {
	tail := liveSearchTail(t)
	records, _ := tail.Size()
	for _, c := range []struct {
		query string
		// decodes says the filter tests a field some records hold too
		// long a value of (some), or the index does not hold (all).
		decodes string
		// none says no trace matches.
		none bool
	}{
		{query: `{ resource.service.name = "service-3" }`},
		{query: `{ resource.service.name = "no such service" }`, none: true},
		{query: `{ .service.name = "edge-1" }`},
		{query: `{ resource.service.name != "service-3" }`},
		{query: `{ resource.service.name =~ "edge-.*" }`},
		{query: `{ resource.service.name != nil }`},
		{query: `{ resource.service.name = 7 }`},
		{query: `{ span.http.status_code = 500 }`},
		{query: `{ span.http.status_code = 404 }`, none: true},
		{query: `{ span.http.status_code >= 502 && span.app.cache_hit = true }`},
		{query: `{ .http.url =~ ".*resource1[0-9]\\?id=1.*" }`},
		{query: `{ span.http.url !~ ".*resource1.*" }`},
		{query: `{ name = "GET /api/v1/resource3" && kind = unspecified }`},
		{query: `{ name = "edge 1" && kind = server && status != ok }`},
		{query: `{ status = error && duration > 100ms }`},
		{query: `{ duration < 0ms }`},
		{query: `{ statusMessage = "boom" }`},
		{query: `{ statusMessage = "" && status = error }`},
		{query: `{ kind = unspecified }`},
		{query: `{ .app.cache_hit = true && .app.user_id > 500000 }`},
		{query: `{ span.num = 2.5 }`},
		{query: `{ span.num = 4 }`},
		{query: `{ span.num = true }`},
		{query: `{ span.num = "5" }`, none: true},
		{query: `{ span.num != nil }`},
		{query: `{ span.num != 1 }`},
		{query: `{ span.obj != nil }`},
		{query: `{ span.obj = "v" }`, none: true},
		{query: `{ .shadow = "resource" }`},
		{query: `{ .shadow = "span" }`},
		{query: `{ resource.shadow = "span" }`, none: true},
		{query: `{ span.shadow = "resource" }`, none: true},
		{query: `{ .res.level = 2 && span.shadow = "span" }`},
		{query: `{ span.dupA = "first-1" }`},
		{query: `{ span.dupA =~ "second.*" }`, none: true},
		{query: `{ span.missing = "x" }`, none: true},
		{query: `{ span.missing != nil }`, none: true},
		{query: `{ span.text = "short-3" }`, decodes: "some"},
		{query: `{ span.text =~ ".*x" }`, decodes: "some"},
		{query: `{ span.text != nil }`},
		{query: `{ resource.service.name = "edge-2" } >> { status = error }`},
		{query: `{ status = error } | count() > 1`},
		{query: `{ rootServiceName = "service-1" && status = error }`},
		{query: `{ traceDuration > 500ms } && { span.app.cache_hit = false }`},
		{query: `{ span:id = "0000000000000001" }`, decodes: "all", none: true},
	} {
		t.Run(c.query, func(t *testing.T) {
			query, err := traceql.Parse(c.query)
			if err != nil {
				t.Fatal(err)
			}
			want := decodedTenantParts(t, tail, newPartsPlan(query))
			decoded := tail.Decoded()
			var parts map[string][]partJSON
			if err := json.Unmarshal(liveCandidatesOf(t, tail, c.query), &parts); err != nil {
				t.Fatal(err)
			}
			n := int(tail.Decoded() - decoded)
			if got := parts[querytest.Tenant]; !reflect.DeepEqual(got, want) {
				t.Fatalf("candidates from the index:\n%+v\nwant those of the spans decoded:\n%+v", got, want)
			}
			matched := 0
			for _, p := range parts[querytest.Tenant] {
				if p.Matched {
					matched++
				}
			}
			if (matched == 0) != c.none {
				t.Errorf("%d traces matched", matched)
			}
			switch c.decodes {
			case "":
				if n != 0 {
					t.Errorf("decoded %d records of %d", n, records)
				}
			case "some":
				if n == 0 || n >= records {
					t.Errorf("decoded %d records of %d; want those holding long values only", n, records)
				}
			case "all":
				if n != records {
					t.Errorf("decoded %d records of %d; want all", n, records)
				}
			}
		})
	}
}

// TestLiveCandidatesAreWholeForAnOlderAsker: a querier of an older version
// reads every part's summary, and does not ask for lean parts: it gets
// them whole, so that searches work while queriers of both versions ask
// each other during a rolling upgrade. A querier that asks for lean parts
// gets their ID and start alone.
func TestLiveCandidatesAreWholeForAnOlderAsker(t *testing.T) {
	tail := liveSearchTail(t)
	for _, tc := range []struct {
		args  candidatesArgs
		whole bool
	}{
		{candidatesArgs{Query: "{}"}, true},
		{candidatesArgs{Query: `{ name != "-" }`}, true},
		{candidatesArgs{Query: "{}", Lean: true}, false},
		{candidatesArgs{Query: `{ name != "-" }`, Lean: true}, false},
		{candidatesArgs{Query: "{ traceDuration > 1ms }", Lean: true}, true}, // trace-level: whole anyway
	} {
		var got map[string][]partJSON
		if err := json.Unmarshal(liveCandidatesAsked(t, tail, tc.args), &got); err != nil {
			t.Fatal(err)
		}
		parts := got[querytest.Tenant]
		if len(parts) == 0 {
			t.Fatalf("%+v: no parts", tc.args)
		}
		for _, p := range parts {
			if whole := p.Root != nil && p.Spans > 0; whole != tc.whole {
				t.Fatalf("%+v: part %+v whole %v, want %v", tc.args, p, whole, tc.whole)
			}
		}
	}
}

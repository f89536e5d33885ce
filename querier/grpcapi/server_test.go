package grpcapi

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/api"
	"github.com/spanlog/spanlog/querier/grpcapi/tempopb"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/tenant"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTrace is a trace of the data set: its spans are numbered (span
// attribute n), and it starts minute minutes after querytest.Base.
type testTrace struct {
	tenant  string
	id      pcommon.TraceID
	minute  int
	numbers []int
	live    bool   // in the live tail, else in a block
	service string // "" for querytest's
}

func (tt testTrace) traces() ptrace.Traces {
	td := querytest.TraceSpans(tt.id, tt.minute, tt.numbers...)
	if tt.service != "" {
		td.ResourceSpans().At(0).Resource().Attributes().PutStr("service.name", tt.service)
	}
	return td
}

// dataSet returns tenant t1's traces, most in a block and the two most
// recent in the live tail, and one of t2, more recent than all, whose
// service no other trace has.
func dataSet() []testTrace {
	var out []testTrace
	for i := range 24 {
		numbers := []int{1}
		if i%3 == 0 {
			numbers = []int{2, 5}
		}
		out = append(out, testTrace{tenant: "t1", id: pcommon.TraceID{0x90, byte(i)}, minute: i, numbers: numbers})
	}
	for j := range 2 {
		out = append(out, testTrace{tenant: "t1", id: pcommon.TraceID{0x91, byte(j)}, minute: 30 + j, numbers: []int{2}, live: true})
	}
	return append(out, testTrace{tenant: "t2", id: pcommon.TraceID{0x92, 1}, minute: 40, numbers: []int{2}, service: "t2-only"})
}

// matching returns the IDs of tenant's traces with a span numbered n
// (any span when n is 0), most recent first.
func matching(data []testTrace, tenant string, n int) []string {
	var hits []testTrace
	for _, tt := range data {
		if tt.tenant == tenant && (n == 0 || slices.Contains(tt.numbers, n)) {
			hits = append(hits, tt)
		}
	}
	slices.SortFunc(hits, func(a, b testTrace) int { return cmp.Compare(b.minute, a.minute) })
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = hex.EncodeToString(h.id[:])
	}
	return out
}

// startDataSet serves dataSet from a fixture with the search cache off,
// so that a search repeated over HTTP reads what the first read.
func startDataSet(t *testing.T) (*fixture, []testTrace) {
	t.Helper()
	return startDataSetWithin(t, querytest.NoLimits(t))
}

// startDataSetWithin is startDataSet within lim.
func startDataSetWithin(t *testing.T, lim *limits.Overrides) (*fixture, []testTrace) {
	t.Helper()
	data := dataSet()
	bkt, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	byTenant := map[string]ptrace.Traces{}
	for _, tt := range data {
		if tt.live {
			continue
		}
		if _, ok := byTenant[tt.tenant]; !ok {
			byTenant[tt.tenant] = ptrace.NewTraces()
		}
		tt.traces().ResourceSpans().MoveAndAppendTo(byTenant[tt.tenant].ResourceSpans())
	}
	writeBlock(t, bkt, "t1", 0, byTenant["t1"])
	writeBlock(t, bkt, "t2", 1, byTenant["t2"])
	cfg := querier.DefaultConfig()
	cfg.SearchCacheBytes = 0
	f := newFixture(t, bkt, cfg, lim)
	for _, tt := range data {
		if tt.live {
			f.produce(t, tt.tenant, tt.traces())
			await(t, "the live trace found", func() bool {
				res, found, err := f.q.FindTrace(context.Background(), []string{tt.tenant}, tt.id, querier.TimeRange{})
				return err == nil && found && res.Trace.SpanCount() == len(tt.numbers)
			})
		}
	}
	await(t, "knowing the blocks", func() bool {
		res, err := f.q.Search(context.Background(), []string{"t1", "t2"}, querier.SearchRequest{Limit: 100, Query: mustParse(t, "{}")})
		return err == nil && len(res.Traces) == len(data)
	})
	return f, data
}

func asTenant(ctx context.Context, tenant string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "X-Scope-OrgID", tenant)
}

// search streams req's search as tenant, and returns its messages.
func search(t *testing.T, f *fixture, tenant string, req *tempopb.SearchRequest) ([]*tempopb.SearchResponse, error) {
	t.Helper()
	stream, err := f.client.Search(asTenant(context.Background(), tenant), req)
	if err != nil {
		return nil, err
	}
	return drain(stream)
}

func drain[T any](stream grpc.ServerStreamingClient[T]) ([]*T, error) {
	var out []*T
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

func traceIDs(traces []*tempopb.TraceSearchMetadata) []string {
	out := make([]string, len(traces))
	for i, tr := range traces {
		out[i] = tr.TraceID
	}
	return out
}

// A streamed search sends the traces of the answer as they become
// certain, most recent first, and last the answer, which is the HTTP
// API's for the same query, and has the traces that match.
func TestSearchStreamsCertainTracesThenTheAnswer(t *testing.T) {
	f, data := startDataSet(t)
	const query = "{ span.n = 2 }"
	for _, limit := range []uint32{3, 5} {
		t.Run(fmt.Sprint("limit=", limit), func(t *testing.T) {
			msgs, err := search(t, f, "t1", &tempopb.SearchRequest{Query: query, Limit: limit, SpansPerSpanSet: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) < 2 {
				t.Fatalf("%d messages, want the traces found before the answer, and the answer", len(msgs))
			}
			final := msgs[len(msgs)-1]
			want := matching(data, "t1", 2)[:limit]
			if got := traceIDs(final.Traces); !slices.Equal(got, want) {
				t.Fatalf("answer %v, want %v", got, want)
			}
			var early []string
			for _, m := range msgs[:len(msgs)-1] {
				early = append(early, traceIDs(m.Traces)...)
			}
			if len(early) == 0 || !slices.Equal(early, want[:len(early)]) {
				t.Errorf("traces sent before the answer %v are not its first ones, most recent first: %v", early, want)
			}

			// The HTTP API's answer, decoded as Tempo's clients decode
			// it, is the last message.
			params := url.Values{"q": {query}, "limit": {fmt.Sprint(limit)}, "spss": {"1"}}
			req, _ := http.NewRequest("GET", f.url+"/api/search?"+params.Encode(), nil)
			req.Header.Set("X-Scope-OrgID", "t1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d %s", resp.StatusCode, body)
			}
			var fromHTTP tempopb.SearchResponse
			if err := protojson.Unmarshal(body, &fromHTTP); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			if !proto.Equal(&fromHTTP, final) {
				t.Errorf("gRPC answer\n%v\nHTTP answer\n%v", final, &fromHTTP)
			}
		})
	}
}

// Each search reads only the tenants of its metadata, which it needs when
// multi-tenancy is on, and reads them as HTTP does (a|b is both).
func TestSearchReadsTheTenantsOfItsMetadata(t *testing.T) {
	f, data := startDataSet(t)
	for _, tc := range []struct {
		tenant string
		want   []string
	}{
		{"t1", matching(data, "t1", 0)[:20]},
		{"t2", matching(data, "t2", 0)},
		{"t2|t1", append(matching(data, "t2", 0), matching(data, "t1", 0)[:19]...)},
	} {
		msgs, err := search(t, f, tc.tenant, &tempopb.SearchRequest{})
		if err != nil {
			t.Fatalf("%s: %v", tc.tenant, err)
		}
		if got := traceIDs(msgs[len(msgs)-1].Traces); !slices.Equal(got, tc.want) {
			t.Errorf("%s: answer %v, want %v", tc.tenant, got, tc.want)
		}
	}
	stream, err := f.client.Search(context.Background(), &tempopb.SearchRequest{})
	if err == nil {
		_, err = drain(stream)
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("without X-Scope-OrgID: %v, want Unauthenticated", err)
	}
}

// A search's request is read by the HTTP route's rules: zero is the
// default, and what that route refuses with 400 is InvalidArgument.
func TestSearchRequestRules(t *testing.T) {
	f, data := startDataSet(t)
	msgs, err := search(t, f, "t1", &tempopb.SearchRequest{Query: "{ span.n = 2 }", Limit: 0, SpansPerSpanSet: 0})
	if err != nil {
		t.Fatal(err)
	}
	final := msgs[len(msgs)-1]
	if got, want := traceIDs(final.Traces), matching(data, "t1", 2); !slices.Equal(got, want) {
		t.Errorf("limit 0: answer %v, want every match %v", got, want)
	}
	if spans := len(final.Traces[len(final.Traces)-1].SpanSets[0].Spans); spans != 1 {
		t.Errorf("spss 0: %d spans of a block trace, want its one matching", spans)
	}
	msgs, err = search(t, f, "t1", &tempopb.SearchRequest{Limit: 0})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := traceIDs(msgs[len(msgs)-1].Traces), matching(data, "t1", 0)[:20]; !slices.Equal(got, want) {
		t.Errorf("limit 0 of { }: answer %v, want the default 20, %v", got, want)
	}
	msgs, err = search(t, f, "t1", &tempopb.SearchRequest{Tags: map[string]string{"n": "5"}, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := traceIDs(msgs[len(msgs)-1].Traces), matching(data, "t1", 5)[:2]; !slices.Equal(got, want) {
		t.Errorf("tags n=5: answer %v, want %v", got, want)
	}
	for name, req := range map[string]*tempopb.SearchRequest{
		"bad TraceQL":      {Query: "{ span.n = "},
		"limit over max":   {Limit: 20_000},
		"spss over max":    {SpansPerSpanSet: 101},
		"q and tags":       {Query: "{}", Tags: map[string]string{"n": "1"}},
		"min above max":    {MinDurationMs: 10, MaxDurationMs: 5},
		"end before start": {Start: 100, End: 50},
	} {
		if _, err := search(t, f, "t1", req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}

// The tag lookups answer as their HTTP routes do, from the tenant's spans
// alone.
func TestTagLookups(t *testing.T) {
	f, _ := startDataSet(t)
	ctx := asTenant(context.Background(), "t1")

	values, err := collect(f.client.SearchTagValuesV2(ctx, &tempopb.SearchTagValuesRequest{TagName: "resource.service.name"}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range values.TagValues {
		got = append(got, v.Type+":"+v.Value)
	}
	if want := []string{"string:svc-0", "string:svc-1"}; !slices.Equal(got, want) {
		t.Errorf("v2 values of resource.service.name: %v, want %v", got, want)
	}
	limited, err := collect(f.client.SearchTagValuesV2(ctx, &tempopb.SearchTagValuesRequest{TagName: "span.n", MaxTagValues: 1}))
	if err != nil || len(limited.TagValues) != 1 {
		t.Errorf("v2 values of span.n, at most 1: %v %v", limited, err)
	}
	v1, err := collect(f.client.SearchTagValues(ctx, &tempopb.SearchTagValuesRequest{TagName: "n"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"1", "2", "5"}; !slices.Equal(v1.TagValues, want) {
		t.Errorf("v1 values of n: %v, want %v", v1.TagValues, want)
	}

	names, err := collect(f.client.SearchTags(ctx, &tempopb.SearchTagsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"n", "service.name"}; !slices.Equal(names.TagNames, want) {
		t.Errorf("v1 tags: %v, want %v", names.TagNames, want)
	}
	v2, err := collect(f.client.SearchTagsV2(ctx, &tempopb.SearchTagsRequest{Scope: "resource"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(v2.Scopes) != 1 || v2.Scopes[0].Name != "resource" || !slices.Equal(v2.Scopes[0].Tags, []string{"service.name"}) {
		t.Errorf("v2 tags of scope resource: %v", v2.Scopes)
	}
	if _, err := collect(f.client.SearchTagsV2(ctx, &tempopb.SearchTagsRequest{Scope: "nowhere"})); status.Code(err) != codes.InvalidArgument {
		t.Errorf("v2 tags of an unknown scope: %v, want InvalidArgument", err)
	}
}

// TraceQL metrics over gRPC count every span of the live tail and the
// blocks once, and answer what the HTTP routes answer.
func TestMetricsQueries(t *testing.T) {
	f, data := startDataSet(t)
	ctx := asTenant(context.Background(), "t1")
	want := map[string]float64{} // spans of t1 per value of n
	total := 0.0
	for _, tt := range data {
		if tt.tenant != "t1" {
			continue
		}
		for _, n := range tt.numbers {
			want[fmt.Sprintf("{span.n=\"%d\"}", n)]++
			total++
		}
	}
	start, end := querytest.Base.Add(-time.Minute), querytest.Base.Add(time.Hour)
	const query = "{ } | count_over_time() by (span.n)"
	res, err := collect(f.client.MetricsQueryRange(ctx, &tempopb.QueryRangeRequest{
		Query: query, Start: uint64(start.UnixNano()), End: uint64(end.UnixNano()), Step: uint64(10 * time.Minute),
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range res.Series {
		for _, smp := range s.Samples {
			got[s.PromLabels] += smp.Value
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("spans counted per n: %v, want %v", got, want)
	}
	params := url.Values{"q": {query}, "start": {fmt.Sprint(start.UnixNano())}, "end": {fmt.Sprint(end.UnixNano())}, "step": {"10m"}}
	var fromHTTP tempopb.QueryRangeResponse
	getJSON(t, f, "/api/metrics/query_range?"+params.Encode(), &fromHTTP)
	if !proto.Equal(&fromHTTP, res) {
		t.Errorf("gRPC answer\n%v\nHTTP answer\n%v", res, &fromHTTP)
	}

	instant, err := collect(f.client.MetricsQueryInstant(ctx, &tempopb.QueryInstantRequest{
		Query: "{ } | count_over_time()", Start: uint64(start.UnixNano()), End: uint64(end.UnixNano()),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(instant.Series) != 1 || instant.Series[0].Value != total {
		t.Errorf("instant count: %v, want one series of %v", instant.Series, total)
	}
	if _, err := collect(f.client.MetricsQueryRange(ctx, &tempopb.QueryRangeRequest{Query: "{ }"})); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a search as a metrics query: %v, want InvalidArgument", err)
	}
}

// getJSON decodes the answer of t1's GET of target on f's HTTP API as
// Tempo's clients decode it.
func getJSON(t *testing.T, f *fixture, target string, into proto.Message) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.url+target, nil)
	req.Header.Set("X-Scope-OrgID", "t1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d %s", resp.StatusCode, body)
	}
	if err := protojson.Unmarshal(body, into); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

// collect returns the one message a tag lookup sends.
func collect[T any](stream grpc.ServerStreamingClient[T], err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	msgs, err := drain(stream)
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("%d messages, want 1", len(msgs))
	}
	return msgs[0], nil
}

// Each message sent is within the tenant's max-response-bytes, as an HTTP
// answer is: over it, the stream ends with RESOURCE_EXHAUSTED naming the
// limit.
func TestMessagesWithinMaxResponseBytes(t *testing.T) {
	f, data := startDataSetWithin(t, querytest.NewLimits(t, limits.Limits{}, "overrides:\n  t1:\n    max-response-bytes: 600\n"))
	msgs, err := search(t, f, "t1", &tempopb.SearchRequest{Query: "{ span.n = 2 }", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := traceIDs(msgs[len(msgs)-1].Traces), matching(data, "t1", 2)[:1]; !slices.Equal(got, want) {
		t.Errorf("an answer under the limit: %v, want %v", got, want)
	}
	_, err = search(t, f, "t1", &tempopb.SearchRequest{Limit: 20})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "max-response-bytes") {
		t.Errorf("an answer over the limit: %v, want RESOURCE_EXHAUSTED naming max-response-bytes", err)
	}
	if _, err := search(t, f, "t2", &tempopb.SearchRequest{Limit: 20}); err != nil {
		t.Errorf("another tenant's answer: %v", err)
	}
}

// Errors map to the codes the README lists, each from the HTTP status it
// stands for.
func TestCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{fmt.Errorf("%w: q", querier.ErrBadRequest), codes.InvalidArgument},
		{tenant.ErrMissing, codes.Unauthenticated},
		{tenant.ErrInvalid, codes.InvalidArgument},
		{querier.ErrTooManyQueries, codes.ResourceExhausted},
		{querier.ErrResponseTooLarge, codes.ResourceExhausted},
		{querier.ErrNotReady, codes.Unavailable},
		{querier.ErrStopping, codes.Unavailable},
		{fmt.Errorf("%w: %w", api.ErrClientClosed, context.Canceled), codes.Canceled},
		{fmt.Errorf("%w: x", api.ErrQueryTimeout), codes.DeadlineExceeded},
		{status.Error(codes.Unavailable, "transport closing"), codes.Unavailable},
		{errors.New("disk on fire"), codes.Internal},
	} {
		if got := status.Code(statusOf(tc.err)); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.err, got, tc.want)
		}
	}
	if statusOf(nil) != nil {
		t.Error("no error is a status")
	}
}

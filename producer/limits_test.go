package producer

import (
	"context"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
)

// TestIngestionRateLimit sends a tenant's requests over its rate through
// both receivers: they get 429 with Retry-After and ResourceExhausted with
// a RetryInfo, naming the limit, and nothing of them is written; a tenant
// the overrides file lifts the limit for is not held back, and a request
// larger than the burst is refused for good.
func TestIngestionRateLimit(t *testing.T) {
	td := testTraces(10, 2, 5)
	size := (&ptrace.ProtoMarshaler{}).TracesSize(td)
	// Two requests fit in the burst, and the rate refills one in hours,
	// so that no wait of the test's makes room for a third.
	burst := int64(2*size + size/2)
	overrides := filepath.Join(t.TempDir(), "overrides.yaml")
	if err := os.WriteFile(overrides, []byte("overrides:\n  vip:\n    ingestion-rate-bytes: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cluster := kafkatest.New(t)
	d := startDistributor(t, cluster.Brokers(), func(s *testSetup) {
		s.tenants.MultiTenancy = true
		s.limits = limits.Limits{IngestionRateBytes: 1, IngestionBurstBytes: burst}
		s.overrides = overrides
	})
	wantMessage := []string{"ingestion rate limit of tenant team-a reached", "(ingestion-rate-bytes)", "(ingestion-burst-bytes)"}

	for i := range 2 {
		if code, msg := exportHTTP(t, d.HTTPAddr(), "team-a", td); code != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i, code, msg)
		}
	}
	t.Run("http", func(t *testing.T) {
		resp, msg, err := exportHTTPReply(d.HTTPAddr(), "team-a", td)
		if err != nil {
			t.Fatal(err)
		}
		if resp.code != http.StatusTooManyRequests {
			t.Fatalf("status %d (%s), want 429", resp.code, msg)
		}
		if seconds, err := strconv.Atoi(resp.retryAfter); err != nil || seconds < 1 {
			t.Errorf("Retry-After %q, want whole seconds", resp.retryAfter)
		}
		for _, want := range wantMessage {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q does not say %q", msg, want)
			}
		}
	})
	t.Run("grpc", func(t *testing.T) {
		st := grpcstatus.Convert(exportGRPC(t, d.GRPCAddr(), "team-a", td))
		if st.Code() != codes.ResourceExhausted {
			t.Fatalf("got %v, want ResourceExhausted", st)
		}
		if retry := retryInfo(st); retry <= 0 {
			t.Errorf("RetryInfo delay %v, want one", retry)
		}
		for _, want := range wantMessage {
			if !strings.Contains(st.Message(), want) {
				t.Errorf("message %q does not say %q", st.Message(), want)
			}
		}
	})
	t.Run("over the burst", func(t *testing.T) {
		big := testTraces(30, 2, 5)
		if code, msg := exportHTTP(t, d.HTTPAddr(), "team-a", big); code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "(ingestion-burst-bytes)") {
			t.Errorf("status %d (%s), want 413 naming ingestion-burst-bytes", code, msg)
		}
		st := grpcstatus.Convert(exportGRPC(t, d.GRPCAddr(), "team-a", big))
		if st.Code() != codes.ResourceExhausted || retryInfo(st) != 0 {
			t.Errorf("got %v with retry delay %v, want ResourceExhausted and no retry", st, retryInfo(st))
		}
	})
	t.Run("unlimited tenant", func(t *testing.T) {
		for i := range 5 {
			if code, msg := exportHTTP(t, d.HTTPAddr(), "vip", td); code != http.StatusOK {
				t.Fatalf("request %d: %d %s", i, code, msg)
			}
		}
	})

	spans := float64(td.SpanCount())
	if got := metricValue(t, d.metrics.spansRejected.WithLabelValues("team-a", reasonRateLimited)); got != 2*spans {
		t.Errorf("spans rejected for the rate %v, want %v", got, 2*spans)
	}
	if got, want := spansPerTenant(t, readLog(t, cluster.Brokers(), kafkatest.Topic)), map[string]int{"team-a": 2 * td.SpanCount(), "vip": 5 * td.SpanCount()}; !maps.Equal(got, want) {
		t.Errorf("log holds spans per tenant %v, want %v", got, want)
	}
}

// spansPerTenant counts the spans of each tenant in records.
func spansPerTenant(t testing.TB, records []*kgo.Record) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, r := range records {
		tn, td, err := schema.DecodeRecord(r, schema.RecordTenancy{Default: "no-tenant-header"})
		if err != nil {
			t.Fatal(err)
		}
		n[tn] += td.SpanCount()
	}
	return n
}

// retryInfo is the delay of st's google.rpc.RetryInfo, 0 without one.
func retryInfo(st *grpcstatus.Status) time.Duration {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok {
			return info.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// TestTruncateString checks that a cut string is a prefix of at most the
// limit that ends on a UTF-8 boundary.
func TestTruncateString(t *testing.T) {
	for _, tc := range []struct {
		s     string
		limit int
		want  string
	}{
		{"abcdef", 3, "abc"},
		{"ééé", 4, "éé"},
		{"ééé", 3, "é"},
		{"aé", 1, "a"},
		{"€uro", 2, ""},
		{"€uro", 3, "€"},
		{"\xff\xff\xff", 2, "\xff\xff"}, // not UTF-8: cut where it falls
	} {
		if got := truncateString(tc.s, tc.limit); got != tc.want {
			t.Errorf("truncateString(%q, %d) = %q, want %q", tc.s, tc.limit, got, tc.want)
		}
	}
}

// TestAttributeTruncation sends attributes over a tenant's
// max-attribute-bytes, everywhere they can be: the request is accepted,
// the client warned in partial_success, and the log holds the values cut.
func TestAttributeTruncation(t *testing.T) {
	const limit = 16
	long := strings.Repeat("é", 20) // 40 bytes, cut to 8 runes
	cut := strings.Repeat("é", 8)
	td := testTraces(2, 2, 1)
	rs := td.ResourceSpans().At(0)
	span := rs.ScopeSpans().At(0).Spans().At(0)
	rs.Resource().Attributes().PutStr("resource.long", long)
	rs.ScopeSpans().At(0).Scope().Attributes().PutStr("scope.long", long)
	span.Attributes().PutStr("span.long", long)
	span.Attributes().PutStr(strings.Repeat("k", 20), "long key")
	span.Attributes().PutEmptyBytes("bytes").FromRaw(make([]byte, 32))
	span.Attributes().PutEmptyMap("map").PutEmptySlice("list").AppendEmpty().SetStr(long)
	span.Events().AppendEmpty().Attributes().PutStr("event.long", long)
	span.Links().AppendEmpty().Attributes().PutStr("link.long", long)
	span.Attributes().PutStr("short", "kept")
	// The 8 above, and the host.name of testTraces' two resources.
	const truncated = 10
	wantWarning := "10 attribute keys or values were truncated to 16 bytes (max-attribute-bytes of tenant team-a)"

	cluster := kafkatest.New(t)
	d := startDistributor(t, cluster.Brokers(), func(s *testSetup) {
		s.tenants.MultiTenancy = true
		s.limits = limits.Limits{MaxAttributeBytes: limit}
	})
	t.Run("grpc", func(t *testing.T) {
		cc, err := grpc.NewClient(d.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		ctx := metadata.AppendToOutgoingContext(context.Background(), tenant.Header, "team-a")
		req := ptraceotlp.NewExportRequest()
		td.CopyTo(req.Traces())
		resp, err := ptraceotlp.NewGRPCClient(cc).Export(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if ps := resp.PartialSuccess(); ps.ErrorMessage() != wantWarning || ps.RejectedSpans() != 0 {
			t.Errorf("partial success %q, %d rejected; want %q, none rejected", ps.ErrorMessage(), ps.RejectedSpans(), wantWarning)
		}
	})
	t.Run("http json", func(t *testing.T) {
		_, body := requestBodies(t, td)
		resp := postHTTP(t, d.HTTPAddr(), "application/json", "team-a", body)
		if resp.code != http.StatusOK {
			t.Fatalf("status %d (%q)", resp.code, resp.body)
		}
		reply := ptraceotlp.NewExportResponse()
		if err := reply.UnmarshalJSON(resp.body); err != nil {
			t.Fatal(err)
		}
		if got := reply.PartialSuccess().ErrorMessage(); got != wantWarning {
			t.Errorf("partial success %q, want %q", got, wantWarning)
		}
	})
	if got := metricValue(t, d.metrics.attributesTruncated.WithLabelValues("team-a")); got != 2*truncated {
		t.Errorf("attributes truncated %v, want %v", got, 2*truncated)
	}

	for _, r := range readLog(t, cluster.Brokers(), kafkatest.Topic) {
		_, stored, err := schema.DecodeRecord(r, schema.RecordTenancy{Default: ""})
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range stored.ResourceSpans().All() {
			checkAttrs(t, rs.Resource().Attributes(), limit)
			for _, ss := range rs.ScopeSpans().All() {
				checkAttrs(t, ss.Scope().Attributes(), limit)
				for _, s := range ss.Spans().All() {
					checkAttrs(t, s.Attributes(), limit)
					if v, ok := s.Attributes().Get("span.long"); ok {
						checkSpanAttrs(t, s.Attributes(), map[string]string{
							"span.long": cut, strings.Repeat("k", limit): "long key", "short": "kept"})
						if v.Str() != cut {
							t.Errorf("span.long stored as %q, want %q", v.Str(), cut)
						}
					}
					for _, e := range s.Events().All() {
						checkAttrs(t, e.Attributes(), limit)
					}
					for _, l := range s.Links().All() {
						checkAttrs(t, l.Attributes(), limit)
					}
				}
			}
		}
	}
}

// checkAttrs fails the test for a key or value of m, at any depth, over
// limit bytes or not valid UTF-8.
func checkAttrs(t *testing.T, m pcommon.Map, limit int) {
	t.Helper()
	var check func(v pcommon.Value)
	check = func(v pcommon.Value) {
		switch v.Type() {
		case pcommon.ValueTypeStr:
			if len(v.Str()) > limit || !utf8.ValidString(v.Str()) {
				t.Errorf("value %q stored", v.Str())
			}
		case pcommon.ValueTypeBytes:
			if v.Bytes().Len() > limit {
				t.Errorf("%d bytes stored", v.Bytes().Len())
			}
		case pcommon.ValueTypeSlice:
			for _, e := range v.Slice().All() {
				check(e)
			}
		case pcommon.ValueTypeMap:
			checkAttrs(t, v.Map(), limit)
		}
	}
	for k, v := range m.All() {
		if len(k) > limit {
			t.Errorf("key %q stored", k)
		}
		check(v)
	}
}

// checkSpanAttrs fails the test unless m holds the string values want.
func checkSpanAttrs(t *testing.T, m pcommon.Map, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if v, ok := m.Get(k); !ok || v.Str() != w {
			t.Errorf("attribute %q stored as %v, want %q", k, v, w)
		}
	}
}

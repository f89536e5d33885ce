package schema

import (
	"bytes"
	"errors"
	"testing"

	"github.com/spanlog/spanlog/internal/spantest"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestDecodeRecordUnknownFormat(t *testing.T) {
	r := &kgo.Record{Headers: []kgo.RecordHeader{{Key: HeaderFormat, Value: []byte("2")}}}
	if _, _, err := DecodeRecord(r, RecordTenancy{Default: "default"}); !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("got error %v, want %v", err, ErrUnknownFormat)
	}
}

func TestDecodeRecordRefusesRecordsWithoutSpans(t *testing.T) {
	noSpans := ptrace.NewTraces()
	noSpans.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for _, tc := range []struct {
		name string
		r    *kgo.Record
		want error
	}{
		{"empty value", &kgo.Record{}, ErrNoSpans},
		{"resource and scope without spans", encodeForTest(t, noSpans), ErrNoSpans},
		{"a span", encodeForTest(t, oneSpan()), nil},
	} {
		if _, _, err := DecodeRecord(tc.r, RecordTenancy{Default: "default"}); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func oneSpan() ptrace.Traces {
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	return td
}

func encodeForTest(t *testing.T, td ptrace.Traces) *kgo.Record {
	t.Helper()
	r, err := EncodeRecord("t1", td)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDecodeRecordTenant(t *testing.T) {
	value, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(oneSpan())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		header  string // "" for no header
		want    string
		invalid bool
	}{
		{header: "", want: "default"},
		{header: "team-a", want: "team-a"},
		{header: "../team-a", invalid: true},
		{header: "a/b", invalid: true},
		{header: "..", invalid: true},
		{header: "has space", invalid: true},
	} {
		r := &kgo.Record{Value: value}
		if tc.header != "" {
			r.Headers = []kgo.RecordHeader{{Key: HeaderTenant, Value: []byte(tc.header)}}
		}
		got, _, err := DecodeRecord(r, RecordTenancy{Default: "default"})
		switch {
		case tc.invalid && err == nil:
			t.Errorf("tenant header %q: accepted as %q, want an error", tc.header, got)
		case !tc.invalid && (err != nil || got != tc.want):
			t.Errorf("tenant header %q: got %q, %v; want %q", tc.header, got, err, tc.want)
		}
	}
}

// A record another writer made (no format header) names its tenant in the
// header RecordTenancy.ForeignHeader names, matched without regard to case;
// spanlog's own tenant header wins over it, and a record of spanlog's
// distributor is never read by it.
func TestRecordTenantOfForeignRecords(t *testing.T) {
	tenancy := RecordTenancy{Default: "default", ForeignHeader: "X-Scope-OrgID"}
	h := func(kv ...string) []kgo.RecordHeader {
		var out []kgo.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			out = append(out, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		headers []kgo.RecordHeader
		want    string
		invalid bool
	}{
		{"no header", nil, "default", false},
		{"the foreign header", h("X-Scope-OrgID", "team-a"), "team-a", false},
		{"another case", h("x-scope-orgid", "team-a"), "team-a", false},
		{"among others", h("traceparent", "00-ab", "x-scope-orgid", "team-a"), "team-a", false},
		{"empty", h("x-scope-orgid", ""), "default", false},
		{"not a tenant ID", h("x-scope-orgid", "../x"), "", true},
		{"spanlog's header first", h("x-scope-orgid", "team-a", HeaderTenant, "team-b"), "team-b", false},
		{"spanlog's record", h(HeaderTenant, "team-b", HeaderFormat, RecordFormatV1, "x-scope-orgid", "team-a"), "team-b", false},
		{"spanlog's record of the default tenant", h(HeaderFormat, RecordFormatV1, "x-scope-orgid", "team-a"), "default", false},
	} {
		got, err := RecordTenant(&kgo.Record{Headers: tc.headers}, tenancy)
		switch {
		case tc.invalid && err == nil:
			t.Errorf("%s: accepted as %q, want an error", tc.name, got)
		case !tc.invalid && (err != nil || got != tc.want):
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	r := &kgo.Record{Headers: h("x-scope-orgid", "team-a")}
	if got, err := RecordTenant(r, RecordTenancy{Default: "default"}); err != nil || got != "default" {
		t.Errorf("without a foreign header configured: got %q, %v; want the default tenant", got, err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	// A small seed: the fuzzer mutates and minimises large inputs slowly.
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	spantest.FillSpan(span, 1)
	rec, err := EncodeRecord("tenant-a", td)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec.Value, RecordFormatV1, "tenant-a")
	f.Add(rec.Value[:len(rec.Value)/2], RecordFormatV1, "")
	f.Add([]byte{}, "", "")
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00}, "", "t")
	f.Add([]byte{0xff, 0xff}, "2", "t")
	f.Fuzz(func(t *testing.T, value []byte, format, tenant string) {
		r := &kgo.Record{Value: value}
		if format != "" {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderFormat, Value: []byte(format)})
		}
		if tenant != "" {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderTenant, Value: []byte(tenant)})
		}
		gotTenant, td, err := DecodeRecord(r, RecordTenancy{Default: "default"})
		if err != nil {
			return
		}
		want := tenant
		if want == "" {
			want = "default"
		}
		if gotTenant != want {
			t.Fatalf("got tenant %q for header %q", gotTenant, tenant)
		}
		// What decodes must survive a re-encode unchanged.
		again, err := EncodeRecord(gotTenant, td)
		if err != nil {
			t.Fatal(err)
		}
		_, td2, err := DecodeRecord(again, RecordTenancy{Default: "default"})
		if err != nil {
			t.Fatalf("decoding our own record: %v", err)
		}
		var m ptrace.ProtoMarshaler
		b1, _ := m.MarshalTraces(td)
		b2, _ := m.MarshalTraces(td2)
		if !bytes.Equal(b1, b2) {
			t.Fatal("record changed on a re-encode")
		}
	})
}

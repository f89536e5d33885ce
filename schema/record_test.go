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
	if _, _, err := DecodeRecord(r, "default"); !errors.Is(err, ErrUnknownFormat) {
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
		if _, _, err := DecodeRecord(tc.r, "default"); !errors.Is(err, tc.want) {
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
		got, _, err := DecodeRecord(r, "default")
		switch {
		case tc.invalid && err == nil:
			t.Errorf("tenant header %q: accepted as %q, want an error", tc.header, got)
		case !tc.invalid && (err != nil || got != tc.want):
			t.Errorf("tenant header %q: got %q, %v; want %q", tc.header, got, err, tc.want)
		}
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
		gotTenant, td, err := DecodeRecord(r, "default")
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
		_, td2, err := DecodeRecord(again, "default")
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

package schema

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/spanlog/spanlog/internal/spantest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestResourceScopeRoundTrip: every resource and scope of the fixture,
// whose attributes hold every value type, decodes as it was encoded, and
// as pdata reads the same bytes.
func TestResourceScopeRoundTrip(t *testing.T) {
	rows := AppendRows(nil, spantest.Full())
	if len(rows) == 0 {
		t.Fatal("fixture has no rows")
	}
	for i := range rows {
		want := ResourceScopeOf(&rows[i])
		b := AppendResourceScope(nil, &want)
		got, err := DecodeResourceScope(b)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("row %d: decoded\n%+v\nwant\n%+v", i, got, want)
		}
		// Any OTLP decoder reads it: as the request of one resource
		// without spans, pdata's rows have nothing, so compare the
		// resource and scope pdata sees.
		req := AppendResourceScope(appendTagLen(nil, len(b)), &want)
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(req)
		if err != nil {
			t.Fatalf("row %d: pdata: %v", i, err)
		}
		rs := td.ResourceSpans().At(0)
		if n := rs.Resource().Attributes().Len(); n != len(want.Attrs) {
			t.Errorf("row %d: pdata reads %d resource attributes, want %d", i, n, len(want.Attrs))
		}
		if got, want := rs.ScopeSpans().At(0).Scope().Name(), want.ScopeName; got != want {
			t.Errorf("row %d: pdata reads scope %q, want %q", i, got, want)
		}
	}
}

func appendTagLen(b []byte, n int) []byte {
	b = append(b, byte(fieldResourceSpans<<3|2))
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(b, byte(n))
}

// TestSpanRowV3RoundTrip: a row through format v3's shape and back is the
// row, and the shape's columns are SpanRow's but the resource's and
// scope's.
func TestSpanRowV3RoundTrip(t *testing.T) {
	rows := AppendRows(nil, spantest.Full())
	var events, links int
	for i := range rows {
		want := rows[i]
		rs := ResourceScopeOf(&want)
		var v SpanRowV3
		want.SetV3(&v, AppendResourceScope(nil, &rs), nil)
		var got SpanRow
		if err := v.SetSpan(&got); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		dec, err := DecodeResourceScope(v.Resource)
		if err != nil {
			t.Fatal(err)
		}
		dec.Set(&got)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("row %d: through v3\n%+v\nwant\n%+v", i, got, want)
		}
		events += len(want.Events)
		links += len(want.Links)
	}
	if events == 0 || links == 0 {
		t.Fatalf("the fixture has %d events and %d links: the test tests neither", events, links)
	}
	v2 := map[string]bool{}
	for _, c := range parquet.SchemaOf(SpanRow{}).Columns() {
		v2[c[0]] = true
	}
	v3 := map[string]bool{}
	for _, c := range parquet.SchemaOf(SpanRowV3{}).Columns() {
		v3[c[0]] = true
	}
	for c := range v2 {
		moved := c == ColumnResourceAttrs || bytes.HasPrefix([]byte(c), []byte("resource_")) || bytes.HasPrefix([]byte(c), []byte("scope_"))
		if v3[c] == moved {
			t.Errorf("column %s: in v3 %v, moved to the resource column %v", c, v3[c], moved)
		}
	}
	if !v3[ColumnResource] {
		t.Errorf("v3 has no %s column", ColumnResource)
	}
}

// TestDecodeResourceScopeRefuses: values AppendResourceScope cannot have
// written are errors, not rows.
func TestDecodeResourceScopeRefuses(t *testing.T) {
	good := AppendResourceScope(nil, &ResourceScope{Attrs: []Attribute{{Key: "k"}}, ScopeName: "s"})
	for name, b := range map[string][]byte{
		"empty":          nil,
		"cut short":      good[:len(good)-1],
		"no scope":       good[:2+int(good[1])],
		"resource twice": append(append([]byte(nil), good[:2+int(good[1])]...), good...),
		"group":          {0x0b},
		"varint field":   {byte(protowire.EncodeTag(rsResource, protowire.VarintType)), 1},
	} {
		if _, err := DecodeResourceScope(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzDecodeResourceScope: any bytes decode or fail without a panic, and
// what decodes encodes to a value that decodes the same.
func FuzzDecodeResourceScope(f *testing.F) {
	for _, r := range AppendRows(nil, spantest.Full()) {
		rs := ResourceScopeOf(&r)
		f.Add(AppendResourceScope(nil, &rs))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeResourceScope(b)
		if err != nil {
			return
		}
		// Compared as encoded: a NaN double is not DeepEqual to itself.
		enc := AppendResourceScope(nil, &s)
		again, err := DecodeResourceScope(enc)
		if err != nil {
			t.Fatalf("re-encoded value fails: %v", err)
		}
		if !bytes.Equal(AppendResourceScope(nil, &again), enc) {
			t.Fatalf("re-encoded value decodes as\n%+v\nnot\n%+v", again, s)
		}
	})
}

// FuzzDecodeEventsLinks: any bytes decode as events or links or fail
// without a panic, and what decodes encodes to bytes that decode the same.
func FuzzDecodeEventsLinks(f *testing.F) {
	for _, r := range AppendRows(nil, spantest.Full()) {
		f.Add(AppendEvents(nil, r.Events))
		f.Add(AppendLinks(nil, r.Links))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Compared as encoded: a NaN double is not DeepEqual to itself.
		if events, err := DecodeEvents(b); err == nil {
			enc := AppendEvents(nil, events)
			again, err := DecodeEvents(enc)
			if err != nil || !bytes.Equal(AppendEvents(nil, again), enc) {
				t.Fatalf("re-encoded events decode as %+v, %v; not %+v", again, err, events)
			}
		}
		if links, err := DecodeLinks(b); err == nil {
			enc := AppendLinks(nil, links)
			again, err := DecodeLinks(enc)
			if err != nil || !bytes.Equal(AppendLinks(nil, again), enc) {
				t.Fatalf("re-encoded links decode as %+v, %v; not %+v", again, err, links)
			}
		}
	})
}

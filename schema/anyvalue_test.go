package schema

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/spanlog/spanlog/internal/spantest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

func negZero() float64           { return math.Copysign(0, -1) }
func nan() float64               { return math.NaN() }
func inf() float64               { return math.Inf(-1) }
func bitsOf(d float64) uint64    { return math.Float64bits(d) }
func newMapValue() pcommon.Value { return pcommon.NewValueMap() }

// TestAnyValueIsOTLP checks the encoding against OTLP's own: the pdata
// protobuf marshaler must read an attribute value we wrote.
func TestAnyValueIsOTLP(t *testing.T) {
	v := newMapValue()
	spantest.PutEveryValueType(v.Map(), "")

	// A span with one attribute "k" = v, encoded by hand around our
	// AnyValue: Span.attributes = 9, KeyValue{key = 1, value = 2}.
	var kv []byte
	kv = protowire.AppendTag(kv, kvKey, protowire.BytesType)
	kv = protowire.AppendString(kv, "k")
	kv = protowire.AppendTag(kv, kvValue, protowire.BytesType)
	kv = protowire.AppendBytes(kv, appendAnyValue(nil, v))
	var span []byte
	span = protowire.AppendTag(span, 9, protowire.BytesType)
	span = protowire.AppendBytes(span, kv)
	// TracesData{resource_spans = 1 {scope_spans = 2 {spans = 2}}}.
	scope := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), span)
	res := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), scope)
	data := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), res)

	var u ptrace.ProtoUnmarshaler
	td, err := u.UnmarshalTraces(data)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Get("k")
	if !ok || !got.Equal(v) {
		t.Errorf("OTLP read back %v, want %v", got.AsRaw(), v.AsRaw())
	}
}

func TestAnyValueRoundTrip(t *testing.T) {
	values := map[string]pcommon.Value{
		"empty":  pcommon.NewValueEmpty(),
		"str":    pcommon.NewValueStr("x"),
		"int":    pcommon.NewValueInt(math.MinInt64),
		"double": pcommon.NewValueDouble(-2.5),
		"bool":   pcommon.NewValueBool(true),
		"bytes":  pcommon.NewValueBytes(),
		"map":    newMapValue(),
	}
	spantest.PutEveryValueType(values["map"].Map(), "")
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			got := pcommon.NewValueEmpty()
			if err := decodeAnyValue(appendAnyValue(nil, v), got); err != nil {
				t.Fatal(err)
			}
			if got.Type() != v.Type() || !got.Equal(v) {
				t.Errorf("got %v (%v), want %v (%v)", got.AsRaw(), got.Type(), v.AsRaw(), v.Type())
			}
		})
	}
}

func TestDecodeAnyValueErrors(t *testing.T) {
	tests := map[string][]byte{
		"truncated tag":        {0x80},
		"truncated string":     {0x0a, 0x05, 'a'},
		"wrong wire type":      {0x08, 0x00}, // field 1, a string, as a varint
		"truncated varint":     {0x10, 0x80},
		"truncated double":     {0x21, 0x00},
		"bad array element":    {0x2a, 0x02, 0x0a, 0x05},
		"bad map entry":        {0x32, 0x02, 0x0a, 0x05},
		"bad map entry value":  {0x32, 0x04, 0x0a, 0x02, 0x12, 0x05},
		"truncated unknown":    {0x42, 0x05},
		"invalid field number": {0x00},
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if err := decodeAnyValue(b, pcommon.NewValueEmpty()); !errors.Is(err, errAnyValue) {
				t.Errorf("got error %v, want %v", err, errAnyValue)
			}
		})
	}
}

func TestDecodeAnyValueLenient(t *testing.T) {
	// An unknown field is skipped, and of several value fields the last
	// one wins, as protobuf decoders do.
	b := []byte{0x42, 0x01, 'z', 0x0a, 0x01, 'a', 0x18, 0x07}
	v := pcommon.NewValueEmpty()
	if err := decodeAnyValue(b, v); err != nil {
		t.Fatal(err)
	}
	if v.Type() != pcommon.ValueTypeInt || v.Int() != 7 {
		t.Errorf("got %v, want int 7", v.AsRaw())
	}
}

func FuzzAnyValue(f *testing.F) {
	v := newMapValue()
	spantest.PutEveryValueType(v.Map(), "")
	f.Add(appendAnyValue(nil, v))
	for _, s := range []pcommon.Value{pcommon.NewValueStr("s"), pcommon.NewValueInt(-1), pcommon.NewValueDouble(1), pcommon.NewValueBool(true), pcommon.NewValueBytes()} {
		f.Add(appendAnyValue(nil, s))
	}
	f.Add([]byte{})
	f.Add([]byte{0x42, 0x01, 'z', 0x0a, 0x01, 'a', 0x18, 0x07})
	f.Fuzz(func(t *testing.T, b []byte) {
		v := pcommon.NewValueEmpty()
		if err := decodeAnyValue(b, v); err != nil {
			return
		}
		enc := appendAnyValue(nil, v)
		again := pcommon.NewValueEmpty()
		if err := decodeAnyValue(enc, again); err != nil {
			t.Fatalf("decoding our own encoding %x: %v", enc, err)
		}
		if enc2 := appendAnyValue(nil, again); !bytes.Equal(enc2, enc) {
			t.Fatalf("encoding not stable:\n%x\n%x", enc, enc2)
		}
	})
}

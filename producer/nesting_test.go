package producer

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/spanlog/spanlog/internal/otlptest"
)

// nestValue makes v a value of the given depth: arrays, or maps if kvlist,
// each holding the next, around a string.
func nestValue(v pcommon.Value, depth int, kvlist bool) {
	for range depth {
		if kvlist {
			v = v.SetEmptyMap().PutEmpty("k")
		} else {
			v = v.SetEmptySlice().AppendEmpty()
		}
	}
	v.SetStr("leaf")
}

// valueDepth is the depth of v as checkProtoDepth counts it.
func valueDepth(v pcommon.Value) int {
	d := 0
	switch v.Type() {
	case pcommon.ValueTypeSlice:
		for _, e := range v.Slice().All() {
			d = max(d, valueDepth(e))
		}
		return d + 1
	case pcommon.ValueTypeMap:
		for _, e := range v.Map().All() {
			d = max(d, valueDepth(e))
		}
		return d + 1
	}
	return 0
}

func mapDepth(m pcommon.Map) int {
	d := 0
	for _, v := range m.All() {
		d = max(d, valueDepth(v))
	}
	return d
}

// tracesDepth is the depth of td's most deeply nested attribute value.
func tracesDepth(td ptrace.Traces) int {
	d := 0
	for _, rs := range td.ResourceSpans().All() {
		d = max(d, mapDepth(rs.Resource().Attributes()))
		for _, ss := range rs.ScopeSpans().All() {
			d = max(d, mapDepth(ss.Scope().Attributes()))
			for _, s := range ss.Spans().All() {
				d = max(d, mapDepth(s.Attributes()))
				for _, e := range s.Events().All() {
					d = max(d, mapDepth(e.Attributes()))
				}
				for _, l := range s.Links().All() {
					d = max(d, mapDepth(l.Attributes()))
				}
			}
		}
	}
	return d
}

// deepAttributeTraces returns testTraces with one attribute of the given
// depth where says: "resource", "scope", "span", "event" or "link".
func deepAttributeTraces(where string, depth int, kvlist bool) ptrace.Traces {
	td := testTraces(2, 2, 1)
	rs := td.ResourceSpans().At(1)
	ss := rs.ScopeSpans().At(0)
	span := ss.Spans().At(0)
	var attrs pcommon.Map
	switch where {
	case "resource":
		attrs = rs.Resource().Attributes()
	case "scope":
		attrs = ss.Scope().Attributes()
	case "span":
		attrs = span.Attributes()
	case "event":
		attrs = span.Events().AppendEmpty().Attributes()
	case "link":
		attrs = span.Links().AppendEmpty().Attributes()
	default:
		panic(where)
	}
	nestValue(attrs.PutEmpty("deep"), depth, kvlist)
	return td
}

// checkDepth scans body as the receivers do.
func checkDepth(body []byte, json bool, maxDepth int) error {
	if json {
		return checkJSONDepth(body, maxDepth)
	}
	return checkProtoDepth(body, maxDepth)
}

// TestCheckDepth checks that the scanners accept every request nesting
// attribute values up to the limit, wherever the value is, and refuse
// every request nesting one deeper.
func TestCheckDepth(t *testing.T) {
	for _, where := range []string{"resource", "scope", "span", "event", "link"} {
		for _, kvlist := range []bool{false, true} {
			for _, limit := range []int{0, 1, 3, 32} {
				for _, depth := range []int{limit - 1, limit, limit + 1} {
					if depth < 0 {
						continue
					}
					protoBody, jsonBody := requestBodies(t, deepAttributeTraces(where, depth, kvlist))
					for _, json := range []bool{false, true} {
						body := protoBody
						if json {
							body = jsonBody
						}
						name := fmt.Sprintf("%s/kvlist=%v/limit=%d/depth=%d/json=%v", where, kvlist, limit, depth, json)
						err := checkDepth(body, json, limit)
						tooDeep, refused := errors.AsType[*AttributeTooDeepError](err)
						switch {
						case depth <= limit && err != nil:
							t.Errorf("%s: %v", name, err)
						case depth > limit && !refused:
							t.Errorf("%s: got %v, want an AttributeTooDeepError", name, err)
						case refused && tooDeep.Limit != limit:
							t.Errorf("%s: error says limit %d", name, tooDeep.Limit)
						}
					}
				}
			}
		}
	}
}

// TestCheckDepthHostile scans a request nesting 1.5 million arrays, which
// overflows the stack of pdata's decoders: the scan refuses it having
// allocated no more than the limit's worth.
func TestCheckDepthHostile(t *testing.T) {
	const levels, limit = 1_500_000, 32
	for _, tc := range []struct {
		name string
		json bool
		body []byte
	}{
		{"protobuf", false, otlptest.DeepArrayRequest(levels)},
		{"json", true, otlptest.DeepArrayRequestJSON(levels)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			allocs := testing.AllocsPerRun(10, func() { err = checkDepth(tc.body, tc.json, limit) })
			if tooDeep, ok := errors.AsType[*AttributeTooDeepError](err); !ok || tooDeep.Limit != limit {
				t.Fatalf("got %v, want an AttributeTooDeepError with limit %d", err, limit)
			}
			// The stack grows by doubling to a limit's worth, then the error.
			if allocs > 12 {
				t.Errorf("%v allocations to refuse the request", allocs)
			}
		})
	}
}

// FuzzProtoDepth checks checkProtoDepth against pdata's decoder: neither
// may panic, a request the scan accepts must decode (if at all) to values
// no deeper than the limit, and on pdata's own encoding of a request the
// scan must refuse exactly those that nest deeper.
func FuzzProtoDepth(f *testing.F) {
	f.Add(otlptest.DeepArrayRequest(200), uint8(32))
	f.Add(otlptest.DeepArrayRequest(3), uint8(3))
	for _, where := range []string{"resource", "scope", "span", "event", "link"} {
		for _, kvlist := range []bool{false, true} {
			body, _ := requestBodies(f, deepAttributeTraces(where, 4, kvlist))
			f.Add(body, uint8(4))
			f.Add(body, uint8(3))
		}
	}
	f.Add([]byte{0x0a, 0x05, 0x12, 0x03, 0x12, 0x01, 0x00}, uint8(1))
	f.Add([]byte{0x0b, 0x0b, 0x0b, 0x0c}, uint8(1)) // groups
	f.Fuzz(func(t *testing.T, body []byte, limit uint8) {
		fuzzDepth(t, body, false, int(limit))
	})
}

// FuzzJSONDepth is FuzzProtoDepth for checkJSONDepth and OTLP/JSON.
func FuzzJSONDepth(f *testing.F) {
	f.Add(otlptest.DeepArrayRequestJSON(200), uint8(32))
	f.Add(otlptest.DeepArrayRequestJSON(3), uint8(3))
	for _, where := range []string{"resource", "scope", "span", "event", "link"} {
		for _, kvlist := range []bool{false, true} {
			_, body := requestBodies(f, deepAttributeTraces(where, 4, kvlist))
			f.Add(body, uint8(4))
			f.Add(body, uint8(3))
		}
	}
	f.Add(bytes.Repeat([]byte("["), 10_000), uint8(32))
	f.Add([]byte(`{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":{"arrayV\u0061lue":{"values":[{"kvlist_value":{}}]}}}]}}]}`), uint8(1))
	f.Add([]byte(`{"a":"\"{[\\","arrayValue":[[{}]]}`), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, limit uint8) {
		fuzzDepth(t, body, true, int(limit))
	})
}

func fuzzDepth(t *testing.T, body []byte, json bool, limit int) {
	err := checkDepth(body, json, limit)
	if _, refused := errors.AsType[*AttributeTooDeepError](err); err != nil && !refused && !errors.Is(err, errUndecodable) {
		t.Fatalf("scan error %v is neither too deep nor undecodable", err)
	}
	if err != nil {
		return
	}
	req := ptraceotlp.NewExportRequest()
	if json {
		err = req.UnmarshalJSON(body)
	} else {
		err = req.UnmarshalProto(body)
	}
	if err != nil {
		return
	}
	depth := tracesDepth(req.Traces())
	if depth > limit {
		t.Fatalf("scan accepted a request nesting %d levels, over the limit of %d", depth, limit)
	}
	// Re-encoded by pdata, the request must pass again, and must be
	// refused with a limit below its depth.
	var canonical []byte
	if json {
		canonical, err = req.MarshalJSON()
	} else {
		canonical, err = req.MarshalProto()
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := checkDepth(canonical, json, depth); err != nil {
		t.Fatalf("scan refused pdata's encoding of a request nesting %d levels with limit %d: %v", depth, depth, err)
	}
	if depth > 0 {
		if _, refused := errors.AsType[*AttributeTooDeepError](checkDepth(canonical, json, depth-1)); !refused {
			t.Fatalf("scan accepted pdata's encoding of a request nesting %d levels with limit %d", depth, depth-1)
		}
	}
}

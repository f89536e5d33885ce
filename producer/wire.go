package producer

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/spanlog/spanlog/schema"
)

// Splitting a request in protobuf without decoding it.
//
// A record's value is an ExportTraceServiceRequest, as the request is, so
// a request in protobuf can be split by copying its bytes: each record
// gets the bytes of its spans, and of the resources and scopes around
// them, under new length prefixes. That costs a tenth of decoding it into
// pdata and encoding each record again (BenchmarkSplit), and allocates a
// few buffers rather than several objects per attribute.
//
// Records must decode in every reader (block-builders, live tail, a
// Collector's kafka receiver), which all decode with pdata. So the scan
// reads every message of the request, down to each attribute value, and
// takes this path only for a request pdata surely accepts as it is: every
// field of a known number has the wire type pdata wants, IDs have pdata's
// lengths, unknown fields are plain values (no groups, which pdata reads
// its own way), and every nested message is well formed. It also wants
// nothing the distributor would change or refuse: no attribute over the
// tenant's max-attribute-bytes, no invalid span, no spans under the
// deprecated instrumentation_library_spans field. Any other request takes
// pdata's path, which decodes it and refuses it with the error clients
// know, or truncates and writes it; FuzzWireSplit checks that both paths
// agree. Fields pdata does not know are copied along, and readers skip
// them as pdata skips them here.

// wireRequest is an ExportTraceServiceRequest in protobuf, indexed for
// splitting into records without decoding it.
type wireRequest struct {
	layout
	// resourceParts and scopeParts hold, per ResourceSpans and per
	// ScopeSpans numbered across the request, its fields other than its
	// ScopeSpans and spans, as they are encoded, in order.
	resourceParts, scopeParts [][][]byte
	// spans are the spans' messages, without tag and length, in request
	// order; scopeSpans is the index in spans of each ScopeSpans' first.
	spans      [][]byte
	scopeSpans []int
}

// nextField reads the field at the start of b: its number, its wire type,
// its content if length-delimited, else its value, and its length in b,
// tag included. n is negative where pdata could read the field otherwise,
// or refuse it: a malformed tag or value, a field number out of
// protobuf's range, a group. The parts come back in registers: a struct
// of them is too large for that, and copying it cost more than reading
// the field (BenchmarkScanRequest). Tags, varints and lengths of one
// byte, as most of OTLP's are, are read without protowire's calls.
func nextField(b []byte) (num protowire.Number, typ protowire.Type, v []byte, u uint64, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		num, typ, n = protowire.Number(b[0]>>3), protowire.Type(b[0]&7), 1
		if num < protowire.MinValidNumber {
			return 0, 0, nil, 0, -1
		}
	} else {
		num, typ, n = protowire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber {
			return 0, 0, nil, 0, -1
		}
	}
	rest := b[n:]
	var m int
	switch typ {
	case protowire.BytesType:
		if len(rest) > 0 && rest[0] < 0x80 {
			l := int(rest[0])
			if l >= len(rest) {
				return 0, 0, nil, 0, -1
			}
			v, m = rest[1:1+l], 1+l
		} else {
			v, m = protowire.ConsumeBytes(rest)
		}
	case protowire.VarintType:
		if len(rest) > 0 && rest[0] < 0x80 {
			u, m = uint64(rest[0]), 1
		} else {
			u, m = protowire.ConsumeVarint(rest)
		}
	case protowire.Fixed64Type:
		u, m = protowire.ConsumeFixed64(rest)
	case protowire.Fixed32Type:
		var x uint32
		x, m = protowire.ConsumeFixed32(rest)
		u = uint64(x)
	default:
		return 0, 0, nil, 0, -1
	}
	if m < 0 {
		return 0, 0, nil, 0, -1
	}
	return num, typ, v, u, n + m
}

// The readers below check a message's fields each in a loop of its own
// rather than through one loop calling back per field: the calls cost
// more than the checks.

// wireScanner checks and indexes one request.
type wireScanner struct {
	req *wireRequest
	// maxAttributeBytes is the tenant's max-attribute-bytes, 0 for none.
	maxAttributeBytes int
	tenant            string
	partitions        int32
	byID              map[pcommon.TraceID]int32
}

// scanRequest indexes body, an ExportTraceServiceRequest in protobuf
// already checked by checkProtoDepth, for splitting into records for
// tenant, whose attributes may take up to maxAttributeBytes (0: no limit).
// ok is false when the request must take pdata's path instead.
func scanRequest(body []byte, tenant string, partitions int32, maxAttributeBytes int) (req *wireRequest, ok bool) {
	s := wireScanner{req: &wireRequest{}, maxAttributeBytes: maxAttributeBytes, tenant: tenant, partitions: partitions,
		byID: make(map[pcommon.TraceID]int32)}
	for b := body; len(b) > 0; {
		num, typ, v, _, n := nextField(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		if num != 1 {
			continue // unknown, skipped as pdata skips it
		}
		if typ != protowire.BytesType || !s.resourceSpans(v) {
			return nil, false
		}
		s.req.size += field(len(v))
	}
	s.req.scopeSpans = append(s.req.scopeSpans, len(s.req.spans))
	return s.req, true
}

// resourceSpans and scopeSpans keep the fields of their message but its
// children (field 2), which a record holds only some of, as parts joined
// where adjacent (see appendPart), and their size.

func (s *wireScanner) resourceSpans(b []byte) bool {
	r := s.req
	resource := len(r.resourceFixed)
	var parts [][]byte
	fixed := 0
	for len(b) > 0 {
		num, typ, v, _, n := nextField(b)
		if n < 0 {
			return false
		}
		var valid bool
		switch num {
		case 1: // resource
			valid = typ == protowire.BytesType && s.resource(v)
		case 2: // scope_spans
			valid = typ == protowire.BytesType && s.scopeSpans(v, resource)
		case 3: // schema_url
			valid = typ == protowire.BytesType
		case 1000: // the deprecated instrumentation_library_spans: pdata's path
			valid = false
		default:
			valid = true
		}
		if !valid {
			return false
		}
		if num != 2 {
			parts = appendPart(parts, b[:n])
			fixed += n
		}
		b = b[n:]
	}
	r.resourceFixed = append(r.resourceFixed, fixed)
	r.resourceParts = append(r.resourceParts, parts)
	return true
}

// appendPart appends field to parts, joined to the last part when it
// follows it in the request, as the fields of a message but its children
// mostly do.
func appendPart(parts [][]byte, field []byte) [][]byte {
	if n := len(parts); n > 0 {
		last := parts[n-1]
		if cap(last) > len(last) && &last[:len(last)+1][len(last)] == &field[0] {
			parts[n-1] = last[:len(last)+len(field)]
			return parts
		}
	}
	return append(parts, field)
}

func (s *wireScanner) scopeSpans(b []byte, resource int) bool {
	r := s.req
	scope := len(r.scopeFixed)
	r.scopeSpans = append(r.scopeSpans, len(r.spans))
	var parts [][]byte
	fixed := 0
	for len(b) > 0 {
		num, typ, v, _, n := nextField(b)
		if n < 0 {
			return false
		}
		var valid bool
		switch num {
		case 1: // scope
			valid = typ == protowire.BytesType && s.scope(v)
		case 2: // spans
			valid = typ == protowire.BytesType && s.span(v, scope)
		case 3: // schema_url
			valid = typ == protowire.BytesType
		default:
			valid = true
		}
		if !valid {
			return false
		}
		if num != 2 {
			parts = appendPart(parts, b[:n])
			fixed += n
		}
		b = b[n:]
	}
	r.scopeFixed = append(r.scopeFixed, fixed)
	r.scopeParts = append(r.scopeParts, parts)
	r.scopeResource = append(r.scopeResource, resource)
	return true
}

func (s *wireScanner) span(msg []byte, scope int) bool {
	var traceID pcommon.TraceID
	var spanID pcommon.SpanID
	var start, end uint64
	for b := msg; len(b) > 0; {
		num, typ, v, u, n := nextField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var valid bool
		switch num {
		case 1: // trace_id
			valid = typ == protowire.BytesType && len(v) == len(traceID)
			if valid {
				traceID = pcommon.TraceID(v)
			}
		case 2: // span_id
			valid = typ == protowire.BytesType && len(v) == len(spanID)
			if valid {
				spanID = pcommon.SpanID(v)
			}
		case 4: // parent_span_id
			valid = typ == protowire.BytesType && (len(v) == 0 || len(v) == len(spanID))
		case 3, 5: // trace_state, name
			valid = typ == protowire.BytesType
		case 6, 10, 12, 14: // kind, dropped attributes, events and links counts
			valid = typ == protowire.VarintType
		case 7: // start_time_unix_nano
			valid, start = typ == protowire.Fixed64Type, u
		case 8: // end_time_unix_nano
			valid, end = typ == protowire.Fixed64Type, u
		case 9: // attributes
			valid = typ == protowire.BytesType && s.keyValue(v)
		case 11: // events
			valid = typ == protowire.BytesType && s.event(v)
		case 13: // links
			valid = typ == protowire.BytesType && s.link(v)
		case 15: // status
			valid = typ == protowire.BytesType && spanStatus(v)
		case 16: // flags
			valid = typ == protowire.Fixed32Type
		default:
			valid = true
		}
		if !valid {
			return false
		}
	}
	// An invalid span takes pdata's path, which names it in its error.
	if traceID.IsEmpty() || spanID.IsEmpty() || start > maxTimestamp || end > maxTimestamp {
		return false
	}
	r := s.req
	t, ok := s.byID[traceID]
	if !ok {
		t = int32(len(r.traces))
		s.byID[traceID] = t
		r.traces = append(r.traces, trace{id: traceID, partition: schema.Partition(s.tenant, traceID, s.partitions)})
	}
	r.traces[t].add(scope, field(len(msg)))
	r.spanTrace = append(r.spanTrace, t)
	r.spans = append(r.spans, msg)
	return true
}

func (s *wireScanner) resource(b []byte) bool {
	for len(b) > 0 {
		num, typ, v, _, n := nextField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var valid bool
		switch num {
		case 1: // attributes
			valid = typ == protowire.BytesType && s.keyValue(v)
		case 2: // dropped_attributes_count
			valid = typ == protowire.VarintType
		case 3: // entity_refs
			valid = typ == protowire.BytesType && entityRef(v)
		default:
			valid = true
		}
		if !valid {
			return false
		}
	}
	return true
}

func (s *wireScanner) scope(b []byte) bool {
	for len(b) > 0 {
		num, typ, v, _, n := nextField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var valid bool
		switch num {
		case 1, 2: // name, version
			valid = typ == protowire.BytesType
		case 3: // attributes
			valid = typ == protowire.BytesType && s.keyValue(v)
		case 4: // dropped_attributes_count
			valid = typ == protowire.VarintType
		default:
			valid = true
		}
		if !valid {
			return false
		}
	}
	return true
}

func (s *wireScanner) event(b []byte) bool {
	for len(b) > 0 {
		num, typ, v, _, n := nextField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var valid bool
		switch num {
		case 1: // time_unix_nano
			valid = typ == protowire.Fixed64Type
		case 2: // name
			valid = typ == protowire.BytesType
		case 3: // attributes
			valid = typ == protowire.BytesType && s.keyValue(v)
		case 4: // dropped_attributes_count
			valid = typ == protowire.VarintType
		default:
			valid = true
		}
		if !valid {
			return false
		}
	}
	return true
}

func (s *wireScanner) link(b []byte) bool {
	for len(b) > 0 {
		num, typ, v, _, n := nextField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var valid bool
		switch num {
		case 1: // trace_id
			valid = typ == protowire.BytesType && (len(v) == 0 || len(v) == len(pcommon.TraceID{}))
		case 2: // span_id
			valid = typ == protowire.BytesType && (len(v) == 0 || len(v) == len(pcommon.SpanID{}))
		case 3: // trace_state
			valid = typ == protowire.BytesType
		case 4: // attributes
			valid = typ == protowire.BytesType && s.keyValue(v)
		case 5: // dropped_attributes_count
			valid = typ == protowire.VarintType
		case 6: // flags
			valid = typ == protowire.Fixed32Type
		default:
			valid = true
		}
		if !valid {
			return false
		}
	}
	return true
}

// keyValue checks an attribute, and that it needs no truncation: a key
// over the limit, or a value under it, takes pdata's path, which cuts it.
func (s *wireScanner) keyValue(b []byte) bool {
	for len(b) > 0 {
		num, typ, v, _, n := nextField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var valid bool
		switch num {
		case 1: // key
			valid = typ == protowire.BytesType && s.withinLimit(v)
		case 2: // value
			valid = typ == protowire.BytesType && s.anyValue(v)
		case 3: // key_strindex
			valid = typ == protowire.VarintType
		default:
			valid = true
		}
		if !valid {
			return false
		}
	}
	return true
}

// anyValue recurses once per level of the value's nesting, which
// checkProtoDepth bounded.
func (s *wireScanner) anyValue(b []byte) bool {
	for len(b) > 0 {
		num, typ, v, _, n := nextField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var valid bool
		switch num {
		case 1, 7: // string_value, bytes_value
			valid = typ == protowire.BytesType && s.withinLimit(v)
		case 2, 3, 8: // bool_value, int_value, string_value_strindex
			valid = typ == protowire.VarintType
		case 4: // double_value
			valid = typ == protowire.Fixed64Type
		case 5, 6: // array_value, kvlist_value: both a list of field 1
			valid = typ == protowire.BytesType && s.values(v, num == 6)
		default:
			valid = true
		}
		if !valid {
			return false
		}
	}
	return true
}

// values checks an ArrayValue, or a KeyValueList when kv is set.
func (s *wireScanner) values(b []byte, kv bool) bool {
	for len(b) > 0 {
		num, typ, v, _, n := nextField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var valid bool
		switch {
		case num != 1:
			valid = true
		case typ != protowire.BytesType:
			valid = false
		case kv:
			valid = s.keyValue(v)
		default:
			valid = s.anyValue(v)
		}
		if !valid {
			return false
		}
	}
	return true
}

func (s *wireScanner) withinLimit(b []byte) bool {
	return s.maxAttributeBytes <= 0 || len(b) <= s.maxAttributeBytes
}

func spanStatus(b []byte) bool {
	for len(b) > 0 {
		num, typ, _, _, n := nextField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch num {
		case 2: // message
			if typ != protowire.BytesType {
				return false
			}
		case 3: // code
			if typ != protowire.VarintType {
				return false
			}
		}
	}
	return true
}

func entityRef(b []byte) bool {
	for len(b) > 0 {
		num, typ, _, _, n := nextField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		// schema_url, type, id_keys, description_keys: all strings.
		if num >= 1 && num <= 4 && typ != protowire.BytesType {
			return false
		}
	}
	return true
}

// values returns the records' values, laid out as records says: the
// request's parts, each span once, under new tags and lengths. Each value
// takes exactly the bytes assign computed.
func (r *wireRequest) values(records []recordSize) ([][]byte, error) {
	const (
		resourceSpansTag = 1<<3 | 2 // ExportTraceServiceRequest.resource_spans
		scopeSpansTag    = 2<<3 | 2 // ResourceSpans.scope_spans
		spanTag          = 2<<3 | 2 // ScopeSpans.spans
	)
	out := make([][]byte, len(records))
	type cursor struct{ resource, scope int }
	cursors := make([]cursor, len(records))
	for i := range records {
		out[i] = make([]byte, 0, records[i].total)
		cursors[i] = cursor{resource: -1, scope: -1}
	}
	for scope := range r.scopeFixed {
		resource := r.scopeResource[scope]
		for span := r.scopeSpans[scope]; span < r.scopeSpans[scope+1]; span++ {
			i := r.traces[r.spanTrace[span]].record
			v, c := out[i], &cursors[i]
			if c.resource != resource {
				c.resource = resource
				v = protowire.AppendVarint(append(v, resourceSpansTag), uint64(r.resourceFixed[resource]+records[i].resourceBytes[resource]))
				for _, p := range r.resourceParts[resource] {
					v = append(v, p...)
				}
			}
			if c.scope != scope {
				c.scope = scope
				v = protowire.AppendVarint(append(v, scopeSpansTag), uint64(r.scopeFixed[scope]+records[i].scopeBytes[scope]))
				for _, p := range r.scopeParts[scope] {
					v = append(v, p...)
				}
			}
			msg := r.spans[span]
			v = protowire.AppendVarint(append(v, spanTag), uint64(len(msg)))
			out[i] = append(v, msg...)
		}
	}
	return out, nil
}

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

// wireField is one field of a message as protowire reads it.
type wireField struct {
	num protowire.Number
	typ protowire.Type
	// value is a varint's or a fixed-size field's value.
	value uint64
	// bytes is a length-delimited field's content.
	bytes []byte
	// encoded is the whole field, tag included.
	encoded []byte
}

// eachField reports whether every field of message b reads (see
// nextField) and valid accepts it, stopping at the first that does not.
func eachField(b []byte, valid func(f wireField) bool) bool {
	for len(b) > 0 {
		f, ok := nextField(b)
		if !ok || !valid(f) {
			return false
		}
		b = b[len(f.encoded):]
	}
	return true
}

// nextField reads the field at the start of b. ok is false where pdata
// could read it otherwise, or refuse it: a malformed tag or value, a field
// number out of protobuf's range, a group.
func nextField(b []byte) (f wireField, ok bool) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num > protowire.MaxValidNumber {
		return f, false
	}
	f.num, f.typ = num, typ
	var m int
	switch typ {
	case protowire.VarintType:
		f.value, m = protowire.ConsumeVarint(b[n:])
	case protowire.Fixed32Type:
		var v uint32
		v, m = protowire.ConsumeFixed32(b[n:])
		f.value = uint64(v)
	case protowire.Fixed64Type:
		f.value, m = protowire.ConsumeFixed64(b[n:])
	case protowire.BytesType:
		f.bytes, m = protowire.ConsumeBytes(b[n:])
	default:
		return f, false
	}
	if m < 0 {
		return f, false
	}
	f.encoded = b[:n+m]
	return f, true
}

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
		f, ok := nextField(b)
		if !ok {
			return nil, false
		}
		b = b[len(f.encoded):]
		if f.num != 1 {
			continue // unknown, skipped as pdata skips it
		}
		if f.typ != protowire.BytesType || !s.resourceSpans(f.bytes) {
			return nil, false
		}
		s.req.size += field(len(f.bytes))
	}
	s.req.scopeSpans = append(s.req.scopeSpans, len(s.req.spans))
	return s.req, true
}

func (s *wireScanner) resourceSpans(b []byte) bool {
	r := s.req
	resource := len(r.resourceFixed)
	parts, fixed, ok := ownFields(b, 2, func(f wireField) bool {
		switch f.num {
		case 1: // resource
			return f.typ == protowire.BytesType && s.resource(f.bytes)
		case 2: // scope_spans
			return f.typ == protowire.BytesType && s.scopeSpans(f.bytes, resource)
		case 3: // schema_url
			return f.typ == protowire.BytesType
		case 1000: // the deprecated instrumentation_library_spans: pdata's path
			return false
		}
		return true
	})
	if !ok {
		return false
	}
	r.resourceFixed = append(r.resourceFixed, fixed)
	r.resourceParts = append(r.resourceParts, parts)
	return true
}

// ownFields reads the fields of message b, a resource_spans or a
// scope_spans, with read, and returns those of its own: all but its
// children (field number children), which a record holds only some of,
// as parts joined where adjacent (see appendPart), and their size.
func ownFields(b []byte, children protowire.Number, read func(f wireField) bool) (parts [][]byte, size int, ok bool) {
	ok = eachField(b, func(f wireField) bool {
		if !read(f) {
			return false
		}
		if f.num != children {
			parts = appendPart(parts, f.encoded)
			size += len(f.encoded)
		}
		return true
	})
	return parts, size, ok
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
	parts, fixed, ok := ownFields(b, 2, func(f wireField) bool {
		switch f.num {
		case 1: // scope
			return f.typ == protowire.BytesType && s.scope(f.bytes)
		case 2: // spans
			return f.typ == protowire.BytesType && s.span(f.bytes, scope)
		case 3: // schema_url
			return f.typ == protowire.BytesType
		}
		return true
	})
	if !ok {
		return false
	}
	r.scopeFixed = append(r.scopeFixed, fixed)
	r.scopeParts = append(r.scopeParts, parts)
	r.scopeResource = append(r.scopeResource, resource)
	return true
}

func (s *wireScanner) span(b []byte, scope int) bool {
	var traceID pcommon.TraceID
	var spanID pcommon.SpanID
	var start, end uint64
	msg := b
	valid := eachField(b, func(f wireField) bool {
		var valid bool
		switch f.num {
		case 1: // trace_id
			valid = f.typ == protowire.BytesType && len(f.bytes) == len(traceID)
			if valid {
				traceID = pcommon.TraceID(f.bytes)
			}
		case 2: // span_id
			valid = f.typ == protowire.BytesType && len(f.bytes) == len(spanID)
			if valid {
				spanID = pcommon.SpanID(f.bytes)
			}
		case 4: // parent_span_id
			valid = f.typ == protowire.BytesType && (len(f.bytes) == 0 || len(f.bytes) == len(spanID))
		case 3, 5: // trace_state, name
			valid = f.typ == protowire.BytesType
		case 6, 10, 12, 14: // kind, dropped attributes, events and links counts
			valid = f.typ == protowire.VarintType
		case 7: // start_time_unix_nano
			valid, start = f.typ == protowire.Fixed64Type, f.value
		case 8: // end_time_unix_nano
			valid, end = f.typ == protowire.Fixed64Type, f.value
		case 9: // attributes
			valid = f.typ == protowire.BytesType && s.keyValue(f.bytes)
		case 11: // events
			valid = f.typ == protowire.BytesType && s.event(f.bytes)
		case 13: // links
			valid = f.typ == protowire.BytesType && s.link(f.bytes)
		case 15: // status
			valid = f.typ == protowire.BytesType && spanStatus(f.bytes)
		case 16: // flags
			valid = f.typ == protowire.Fixed32Type
		default:
			valid = true
		}
		return valid
	})
	// An invalid span takes pdata's path, which names it in its error.
	if !valid || traceID.IsEmpty() || spanID.IsEmpty() || start > maxTimestamp || end > maxTimestamp {
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
	return eachField(b, func(f wireField) bool {
		var valid bool
		switch f.num {
		case 1: // attributes
			valid = f.typ == protowire.BytesType && s.keyValue(f.bytes)
		case 2: // dropped_attributes_count
			valid = f.typ == protowire.VarintType
		case 3: // entity_refs
			valid = f.typ == protowire.BytesType && entityRef(f.bytes)
		default:
			valid = true
		}
		return valid
	})
}

func (s *wireScanner) scope(b []byte) bool {
	return eachField(b, func(f wireField) bool {
		var valid bool
		switch f.num {
		case 1, 2: // name, version
			valid = f.typ == protowire.BytesType
		case 3: // attributes
			valid = f.typ == protowire.BytesType && s.keyValue(f.bytes)
		case 4: // dropped_attributes_count
			valid = f.typ == protowire.VarintType
		default:
			valid = true
		}
		return valid
	})
}

func (s *wireScanner) event(b []byte) bool {
	return eachField(b, func(f wireField) bool {
		var valid bool
		switch f.num {
		case 1: // time_unix_nano
			valid = f.typ == protowire.Fixed64Type
		case 2: // name
			valid = f.typ == protowire.BytesType
		case 3: // attributes
			valid = f.typ == protowire.BytesType && s.keyValue(f.bytes)
		case 4: // dropped_attributes_count
			valid = f.typ == protowire.VarintType
		default:
			valid = true
		}
		return valid
	})
}

func (s *wireScanner) link(b []byte) bool {
	return eachField(b, func(f wireField) bool {
		var valid bool
		switch f.num {
		case 1: // trace_id
			valid = f.typ == protowire.BytesType && (len(f.bytes) == 0 || len(f.bytes) == len(pcommon.TraceID{}))
		case 2: // span_id
			valid = f.typ == protowire.BytesType && (len(f.bytes) == 0 || len(f.bytes) == len(pcommon.SpanID{}))
		case 3: // trace_state
			valid = f.typ == protowire.BytesType
		case 4: // attributes
			valid = f.typ == protowire.BytesType && s.keyValue(f.bytes)
		case 5: // dropped_attributes_count
			valid = f.typ == protowire.VarintType
		case 6: // flags
			valid = f.typ == protowire.Fixed32Type
		default:
			valid = true
		}
		return valid
	})
}

// keyValue checks an attribute, and that it needs no truncation: a key
// over the limit, or a value under it, takes pdata's path, which cuts it.
func (s *wireScanner) keyValue(b []byte) bool {
	return eachField(b, func(f wireField) bool {
		var valid bool
		switch f.num {
		case 1: // key
			valid = f.typ == protowire.BytesType && s.withinLimit(f.bytes)
		case 2: // value
			valid = f.typ == protowire.BytesType && s.anyValue(f.bytes)
		case 3: // key_strindex
			valid = f.typ == protowire.VarintType
		default:
			valid = true
		}
		return valid
	})
}

// anyValue recurses once per level of the value's nesting, which
// checkProtoDepth bounded.
func (s *wireScanner) anyValue(b []byte) bool {
	return eachField(b, func(f wireField) bool {
		var valid bool
		switch f.num {
		case 1, 7: // string_value, bytes_value
			valid = f.typ == protowire.BytesType && s.withinLimit(f.bytes)
		case 2, 3, 8: // bool_value, int_value, string_value_strindex
			valid = f.typ == protowire.VarintType
		case 4: // double_value
			valid = f.typ == protowire.Fixed64Type
		case 5, 6: // array_value, kvlist_value: both a list of field 1
			valid = f.typ == protowire.BytesType && s.values(f.bytes, f.num == 6)
		default:
			valid = true
		}
		return valid
	})
}

// values checks an ArrayValue, or a KeyValueList when kv is set.
func (s *wireScanner) values(b []byte, kv bool) bool {
	return eachField(b, func(f wireField) bool {
		switch {
		case f.num != 1:
			return true
		case f.typ != protowire.BytesType:
			return false
		case kv:
			return s.keyValue(f.bytes)
		}
		return s.anyValue(f.bytes)
	})
}

func (s *wireScanner) withinLimit(b []byte) bool {
	return s.maxAttributeBytes <= 0 || len(b) <= s.maxAttributeBytes
}

func spanStatus(b []byte) bool {
	return eachField(b, func(f wireField) bool {
		switch f.num {
		case 2: // message
			return f.typ == protowire.BytesType
		case 3: // code
			return f.typ == protowire.VarintType
		}
		return true
	})
}

func entityRef(b []byte) bool {
	return eachField(b, func(f wireField) bool {
		// schema_url, type, id_keys, description_keys: all strings.
		return f.num < 1 || f.num > 4 || f.typ == protowire.BytesType
	})
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

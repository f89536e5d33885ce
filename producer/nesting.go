package producer

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Bounding the nesting of attribute values.
//
// An attribute value (AnyValue) may be an array or a map of values, which
// may be arrays or maps in turn, without end. Decoders recurse once per
// level, pdata's included, and a Go stack overflow is a fatal error that no
// recover catches: one request nesting a value a million levels deep,
// kilobytes once gzipped, would take the whole process down. So the
// receivers scan a request's bytes before any decoder sees them, keeping
// a stack no deeper than the limit allows, and refuse it at the first value
// nested deeper than Config.MaxAttributeDepth.
//
// The depth of a value is the number of arrays and maps it is in, itself
// included: a string attribute has depth 0, an array of strings depth 1, a
// map holding that array depth 2.

// AttributeTooDeepError reports an attribute value nested deeper than
// Config.MaxAttributeDepth. Nothing of the request is written; the client
// must not retry it unchanged.
type AttributeTooDeepError struct {
	// Limit is Config.MaxAttributeDepth.
	Limit int
	// Offset is where the scan passed the limit, in bytes from the start
	// of the request's decompressed body.
	Offset int
}

func (e *AttributeTooDeepError) Error() string {
	return fmt.Sprintf("attribute value nested deeper than %d arrays and maps (the limit, max-attribute-depth) at byte %d of the request",
		e.Limit, e.Offset)
}

// message is an OTLP message type a request may nest an AnyValue in.
type message uint8

const (
	msgRequest message = iota // ExportTraceServiceRequest
	msgResourceSpans
	msgResource
	msgScopeSpans
	msgScope
	msgSpan
	msgEvent
	msgLink
	msgKeyValue
	msgAnyValue
	msgArrayValue
	msgKeyValueList
	msgNone // a field that cannot hold an AnyValue
)

// child returns the type of field num of m if it is a message that can
// hold an AnyValue, and msgNone for every other field: scalars, strings,
// bytes, unknown fields, and messages without attributes (Status, entity
// references), whose nesting is fixed.
func (m message) child(num protowire.Number) message {
	switch m {
	case msgRequest:
		if num == 1 {
			return msgResourceSpans
		}
	case msgResourceSpans:
		switch num {
		case 1:
			return msgResource
		case 2, 1000: // 1000: the deprecated instrumentation_library_spans
			return msgScopeSpans
		}
	case msgResource:
		if num == 1 {
			return msgKeyValue
		}
	case msgScopeSpans:
		switch num {
		case 1:
			return msgScope
		case 2:
			return msgSpan
		}
	case msgScope:
		if num == 3 {
			return msgKeyValue
		}
	case msgSpan:
		switch num {
		case 9:
			return msgKeyValue
		case 11:
			return msgEvent
		case 13:
			return msgLink
		}
	case msgEvent:
		if num == 3 {
			return msgKeyValue
		}
	case msgLink:
		if num == 4 {
			return msgKeyValue
		}
	case msgKeyValue:
		if num == 2 {
			return msgAnyValue
		}
	case msgAnyValue:
		switch num {
		case 5:
			return msgArrayValue
		case 6:
			return msgKeyValueList
		}
	case msgArrayValue:
		if num == 1 {
			return msgAnyValue
		}
	case msgKeyValueList:
		if num == 1 {
			return msgKeyValue
		}
	}
	return msgNone
}

// nests reports whether m is a level of an attribute value's depth.
func (m message) nests() bool { return m == msgArrayValue || m == msgKeyValueList }

// checkProtoDepth scans an ExportTraceServiceRequest in protobuf and
// returns an *AttributeTooDeepError at the first attribute value nested
// deeper than maxDepth. It follows exactly the fields pdata decodes as
// messages; every other field it skips without looking inside, as pdata
// does, and a message too short to nest past the limit it skips whole. It
// walks with a stack of its own, a few messages plus 3 per level of depth
// at most. Malformed protobuf it reads is errUndecodable; what it skips,
// pdata checks.
func checkProtoDepth(b []byte, maxDepth int) error {
	type frame struct {
		msg message
		end int
	}
	var stack []frame
	msg, pos, end, depth := msgRequest, 0, len(b), 0
	for {
		if pos == end {
			if len(stack) == 0 {
				return nil
			}
			if msg.nests() {
				depth--
			}
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			msg, end = top.msg, top.end
			continue
		}
		// Tags, varints and lengths of one byte, as most of OTLP's are,
		// are read without protowire's calls; others, and anything
		// malformed, with them, which say what is wrong.
		var num protowire.Number
		var typ protowire.Type
		if c := b[pos]; c >= 1<<3 && c < 0x80 {
			num, typ = protowire.Number(c>>3), protowire.Type(c&7)
			pos++
		} else {
			var n int
			num, typ, n = protowire.ConsumeTag(b[pos:end])
			if n < 0 {
				return protoError(pos, n)
			}
			pos += n
		}
		if typ != protowire.BytesType {
			// pdata refuses a known field of the wrong wire type, so
			// nothing is lost by skipping it.
			if typ == protowire.VarintType && pos < end && b[pos] < 0x80 {
				pos++
				continue
			}
			n := protowire.ConsumeFieldValue(num, typ, b[pos:end])
			if n < 0 {
				return protoError(pos, n)
			}
			pos += n
			continue
		}
		var v []byte
		var n int
		if l := end - pos - 1; l >= 0 && b[pos] < 0x80 && int(b[pos]) <= l {
			v, n = b[pos+1:pos+1+int(b[pos])], 1+int(b[pos])
		} else if v, n = protowire.ConsumeBytes(b[pos:end]); n < 0 {
			return protoError(pos, n)
		}
		child := msg.child(num)
		if child == msgNone {
			pos += n
			continue
		}
		childDepth := depth
		if child.nests() {
			if depth == maxDepth {
				return &AttributeTooDeepError{Limit: maxDepth, Offset: pos}
			}
			childDepth++
		}
		if childDepth+len(v)/2 <= maxDepth {
			// Each level of nesting takes a tag and a length, two bytes
			// at least, so v cannot reach past the limit: skipped unread,
			// as most attributes are, and small spans.
			pos += n
			continue
		}
		depth = childDepth
		stack = append(stack, frame{msg: msg, end: end})
		msg, end, pos = child, pos+n, pos+n-len(v)
	}
}

func protoError(pos, n int) error {
	return fmt.Errorf("%w: protobuf at byte %d: %w", errUndecodable, pos, protowire.ParseError(n))
}

// jsonAnyValueDepth is the bracket depth of the deepest AnyValue that is
// not nested in another, an event's or a link's attribute value:
// {"resourceSpans":[{"scopeSpans":[{"spans":[{"events":[{"attributes":[{"value":{.
const jsonAnyValueDepth = 12

// jsonLevelDepth is the most brackets one level of nesting adds: a map's
// {"kvlistValue":{"values":[{"value":{ is four.
const jsonLevelDepth = 4

// checkJSONDepth scans an ExportTraceServiceRequest in OTLP/JSON and
// returns an *AttributeTooDeepError at the first attribute value nested
// deeper than maxDepth: an object or array opened as the value of an
// AnyValue's "arrayValue" or "kvlistValue" is one level. It counts such values
// wherever they are, so it may refuse what pdata would skip, never accept
// what it would nest deeper. It also bounds the brackets of anything else
// to what a request within maxDepth needs, plus one level, so that unknown
// fields nest no deeper either. It keeps one byte per open bracket, and
// leaves malformed JSON to the decoder.
func checkJSONDepth(b []byte, maxDepth int) error {
	maxBrackets := jsonAnyValueDepth + jsonLevelDepth*(maxDepth+1)
	// Per open bracket: whether it is an object, and whether it is a
	// level of an attribute value's depth.
	const (
		object = 1 << iota
		level
	)
	var stack []byte
	depth := 0
	// expectKey: the next string in the object is a key. nestingKey: the
	// last key read is one of nestingKeys and its value is still to come.
	expectKey, nestingKey := false, false
	inObject := func() bool { return len(stack) > 0 && stack[len(stack)-1]&object != 0 }
	for pos := 0; pos < len(b); pos++ {
		switch c := b[pos]; c {
		case '{', '[':
			if len(stack) == maxBrackets {
				return &AttributeTooDeepError{Limit: maxDepth, Offset: pos}
			}
			var kind byte
			if c == '{' {
				kind = object
			}
			if nestingKey {
				if depth == maxDepth {
					return &AttributeTooDeepError{Limit: maxDepth, Offset: pos}
				}
				depth++
				kind |= level
			}
			stack = append(stack, kind)
			expectKey, nestingKey = c == '{', false
		case '}', ']':
			if len(stack) == 0 {
				return nil // malformed: the decoder says so
			}
			if stack[len(stack)-1]&level != 0 {
				depth--
			}
			stack = stack[:len(stack)-1]
			expectKey, nestingKey = false, false
		case ',':
			expectKey, nestingKey = inObject(), false
		case '"':
			start := pos + 1
			escaped := false
			for pos++; pos < len(b) && b[pos] != '"'; pos++ {
				if b[pos] == '\\' {
					escaped = true
					pos++
				}
			}
			if expectKey && inObject() {
				nestingKey = isNestingKey(b[start:min(pos, len(b))], escaped)
				expectKey = false
			}
		}
	}
	return nil
}

// isNestingKey reports whether the raw JSON string key, escapes and all,
// names the array or the map of an AnyValue, in either of the protobuf JSON
// mapping's spellings: pdata takes both.
func isNestingKey(key []byte, escaped bool) bool {
	if escaped {
		// At most six bytes (\uXXXX) for each of a nesting key's
		// characters; longer keys cannot be one.
		if len(key) > 6*len("kvlist_value") {
			return false
		}
		var s string
		if json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &s) != nil {
			return false
		}
		key = []byte(s)
	}
	switch string(key) {
	case "arrayValue", "array_value", "kvlistValue", "kvlist_value":
		return true
	}
	return false
}

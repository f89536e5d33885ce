package traceql

import (
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spanlog/spanlog/schema"
)

// Intrinsic names a field that every span has, as opposed to an attribute.
type Intrinsic uint8

// The supported intrinsics. IntrinsicNone marks a Field that is an
// attribute.
const (
	IntrinsicNone Intrinsic = iota
	IntrinsicName
	IntrinsicStatus
	IntrinsicStatusMessage
	IntrinsicKind
	IntrinsicDuration
	IntrinsicSpanID
	IntrinsicParentID
	IntrinsicTraceRootName
	IntrinsicTraceRootService
	IntrinsicTraceDuration
	IntrinsicTraceID
	IntrinsicChildCount
	IntrinsicNestedSetLeft
	IntrinsicNestedSetRight
	IntrinsicNestedSetParent
	IntrinsicEventName
	IntrinsicEventTimeSinceStart
	IntrinsicLinkTraceID
	IntrinsicLinkSpanID
	IntrinsicInstrumentationName
	IntrinsicInstrumentationVersion
)

// intrinsics describes each intrinsic: its canonical (scoped) name and its
// type.
var intrinsics = [...]struct {
	name string
	typ  Type
}{
	IntrinsicNone:             {"", TypeNil},
	IntrinsicName:             {"span:name", TypeString},
	IntrinsicStatus:           {"span:status", TypeStatus},
	IntrinsicStatusMessage:    {"span:statusMessage", TypeString},
	IntrinsicKind:             {"span:kind", TypeKind},
	IntrinsicDuration:         {"span:duration", TypeDuration},
	IntrinsicSpanID:           {"span:id", TypeString},
	IntrinsicParentID:         {"span:parentID", TypeString},
	IntrinsicTraceRootName:    {"trace:rootName", TypeString},
	IntrinsicTraceRootService: {"trace:rootService", TypeString},
	IntrinsicTraceDuration:    {"trace:duration", TypeDuration},
	IntrinsicTraceID:          {"trace:id", TypeString},
	IntrinsicChildCount:       {"span:childCount", TypeInt},
	IntrinsicNestedSetLeft:    {"span:nestedSetLeft", TypeInt},
	IntrinsicNestedSetRight:   {"span:nestedSetRight", TypeInt},
	IntrinsicNestedSetParent:  {"span:nestedSetParent", TypeInt},

	IntrinsicEventName:              {"event:name", TypeString},
	IntrinsicEventTimeSinceStart:    {"event:timeSinceStart", TypeDuration},
	IntrinsicLinkTraceID:            {"link:traceID", TypeString},
	IntrinsicLinkSpanID:             {"link:spanID", TypeString},
	IntrinsicInstrumentationName:    {"instrumentation:name", TypeString},
	IntrinsicInstrumentationVersion: {"instrumentation:version", TypeString},
}

// unscopedIntrinsics are the names TraceQL accepts without a scope, and
// scopedIntrinsics those written scope:name.
var (
	unscopedIntrinsics = map[string]Intrinsic{
		"name":            IntrinsicName,
		"status":          IntrinsicStatus,
		"statusMessage":   IntrinsicStatusMessage,
		"kind":            IntrinsicKind,
		"duration":        IntrinsicDuration,
		"rootName":        IntrinsicTraceRootName,
		"rootServiceName": IntrinsicTraceRootService,
		"traceDuration":   IntrinsicTraceDuration,
	}
	scopedIntrinsics = map[string]Intrinsic{
		"span:name":          IntrinsicName,
		"span:status":        IntrinsicStatus,
		"span:statusMessage": IntrinsicStatusMessage,
		"span:kind":          IntrinsicKind,
		"span:duration":      IntrinsicDuration,
		"span:id":            IntrinsicSpanID,
		"span:parentID":      IntrinsicParentID,
		"trace:rootName":     IntrinsicTraceRootName,
		"trace:rootService":  IntrinsicTraceRootService,
		"trace:duration":     IntrinsicTraceDuration,
		"trace:id":           IntrinsicTraceID,
		"span:childCount":    IntrinsicChildCount,
		// Tempo writes the nested-set intrinsics without a scope;
		// they are not offered with the others (Intrinsics), as Tempo
		// does not list them either.
		"span:nestedSetLeft":   IntrinsicNestedSetLeft,
		"span:nestedSetRight":  IntrinsicNestedSetRight,
		"span:nestedSetParent": IntrinsicNestedSetParent,

		"event:name":              IntrinsicEventName,
		"event:timeSinceStart":    IntrinsicEventTimeSinceStart,
		"link:traceID":            IntrinsicLinkTraceID,
		"link:spanID":             IntrinsicLinkSpanID,
		"instrumentation:name":    IntrinsicInstrumentationName,
		"instrumentation:version": IntrinsicInstrumentationVersion,
	}
	nestedSetIntrinsics = map[string]Intrinsic{
		"nestedSetLeft":   IntrinsicNestedSetLeft,
		"nestedSetRight":  IntrinsicNestedSetRight,
		"nestedSetParent": IntrinsicNestedSetParent,
	}
)

// Intrinsics returns the names of the intrinsics TraceQL accepts without a
// scope (name, status, duration, rootServiceName, ...), sorted: those a
// query builder offers.
func Intrinsics() []string {
	return slices.Sorted(maps.Keys(unscopedIntrinsics))
}

// IntrinsicField returns the field of the intrinsic written name: without
// a scope, as Intrinsics lists them, or with one (span:name, event:name,
// instrumentation:version).
func IntrinsicField(name string) (Field, bool) {
	in, ok := unscopedIntrinsics[name]
	if !ok {
		in, ok = scopedIntrinsics[name]
	}
	return Field{Intrinsic: in}, ok
}

// traceLevel reports whether the intrinsic has one value per trace.
func (i Intrinsic) traceLevel() bool {
	return i == IntrinsicTraceRootName || i == IntrinsicTraceRootService ||
		i == IntrinsicTraceDuration || i == IntrinsicTraceID
}

// treeLevel reports whether the intrinsic is computed from the parent
// links of the whole trace.
func (i Intrinsic) treeLevel() bool {
	return i >= IntrinsicChildCount && i <= IntrinsicNestedSetParent
}

// Scope says where an attribute is looked up.
type Scope uint8

// The attribute scopes. ScopeAny is an unscoped attribute (.x): the span's
// attribute if the span has it, else the resource's; as in Tempo, it
// never reads an event's, a link's or the instrumentation scope's.
const (
	ScopeAny Scope = iota
	ScopeSpan
	ScopeResource
	// ScopeEvent reads the attributes of the span's events, ScopeLink
	// those of its links (see Field.Element).
	ScopeEvent
	ScopeLink
	// ScopeInstrumentation reads the attributes of the instrumentation
	// scope that produced the span.
	ScopeInstrumentation
)

var scopePrefixes = [...]string{
	ScopeAny: ".", ScopeSpan: "span.", ScopeResource: "resource.",
	ScopeEvent: "event.", ScopeLink: "link.", ScopeInstrumentation: "instrumentation.",
}

// Element names what a span has several of, which a field may read one
// of: its events or its links.
type Element uint8

// The elements a field reads. A field of ElementEvent has a value on each
// of the span's events, and a condition on it holds on a span when it
// holds on one of them (see Field.Element).
const (
	ElementNone Element = iota
	ElementEvent
	ElementLink
)

// Field is what a comparison, aggregate or select() reads from a span: an
// intrinsic, or an attribute with its scope.
type Field struct {
	// Intrinsic is the intrinsic, or IntrinsicNone for an attribute.
	Intrinsic Intrinsic
	// Scope and Name identify an attribute; unused for intrinsics.
	Scope Scope
	Name  string
}

// Element says whether the field is read from each of a span's events
// (event:name, event.x) or links (link:traceID, link.x), or once per span.
//
// As in Tempo, a condition of one spanset filter holds on a span when it
// holds on one of the span's events together with one of its links: the
// comparisons on events in it read the same event, and those on links the
// same link. A span without events is judged once, on no event, where
// every event field is missing (so { event.x = nil } matches it); the
// same goes for links.
func (f Field) Element() Element {
	switch {
	case f.Intrinsic == IntrinsicEventName || f.Intrinsic == IntrinsicEventTimeSinceStart ||
		f.Intrinsic == IntrinsicNone && f.Scope == ScopeEvent:
		return ElementEvent
	case f.Intrinsic == IntrinsicLinkTraceID || f.Intrinsic == IntrinsicLinkSpanID ||
		f.Intrinsic == IntrinsicNone && f.Scope == ScopeLink:
		return ElementLink
	}
	return ElementNone
}

// typ returns the field's static type; TypeNil for attributes, whose type
// is known only per span.
func (f Field) typ() Type { return intrinsics[f.Intrinsic].typ }

// SpanValue returns the field's value on one span: an attribute in its
// scope, or an intrinsic of the span's own. It is TypeNil when the span
// does not have the field, and for an intrinsic of the whole trace
// (rootName, traceDuration, childCount, ...), which one span cannot tell.
// A field of an event or a link reads the first of the span's events or
// links that has it.
func (f Field) SpanValue(row *schema.SpanRow) Value {
	if f.Intrinsic.traceLevel() || f.Intrinsic.treeLevel() {
		return Value{}
	}
	return fieldValue(&f, row, nil)
}

// EachValue calls fn with the field's value on each of the span's events
// or links, for a field of theirs (see Element), in their order, and with
// SpanValue for another field. Values are TypeNil where the field is
// missing; a span without events or links has no value of their fields.
func (f Field) EachValue(row *schema.SpanRow, fn func(Value)) {
	var t traceInfo
	t.bound = true
	switch f.Element() {
	case ElementEvent:
		for i := range row.Events {
			t.event = &row.Events[i]
			fn(fieldValue(&f, row, &t))
		}
	case ElementLink:
		for i := range row.Links {
			t.link = &row.Links[i]
			fn(fieldValue(&f, row, &t))
		}
	default:
		fn(f.SpanValue(row))
	}
}

// String renders the field as TraceQL: intrinsics in their scoped form,
// attribute names quoted only when they need to be.
func (f Field) String() string {
	if f.Intrinsic != IntrinsicNone {
		return intrinsics[f.Intrinsic].name
	}
	// .3 is a number: an unscoped name that starts with a digit is
	// quoted, as ."3".
	if plainAttributeName(f.Name) && (f.Scope != ScopeAny || !isDigit(f.Name[0])) {
		return scopePrefixes[f.Scope] + f.Name
	}
	return scopePrefixes[f.Scope] + quote(f.Name)
}

// plainAttributeName reports whether name can be written without quotes:
// dot-separated, non-empty parts of name characters.
func plainAttributeName(name string) bool {
	for part := range strings.SplitSeq(name, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); {
			r, n := utf8.DecodeRuneInString(part[i:])
			if !isNameRune(r) {
				return false
			}
			i += n
		}
	}
	return true
}

// isNameRune reports whether r may appear in an unquoted attribute name.
// Besides letters and digits it allows - and /, which occur in common keys
// (HTTP header names, Kubernetes label keys); TraceQL's operator characters
// end a name.
func isNameRune(r rune) bool {
	return r == '_' || r == '-' || r == '/' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

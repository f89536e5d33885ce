package live

import (
	"math"
	"unsafe"
)

// Intrinsic names a field every span has, which a SpanTest may test;
// IntrinsicNone, an attribute.
type Intrinsic uint8

// The intrinsics a record's index holds.
const (
	IntrinsicNone Intrinsic = iota
	IntrinsicName
	IntrinsicStatus
	IntrinsicStatusMessage
	IntrinsicKind
	IntrinsicDuration
)

// columnOf is the column of each intrinsic.
var columnOf = [...]columnField{
	IntrinsicName:          columnName,
	IntrinsicStatus:        columnStatus,
	IntrinsicStatusMessage: columnStatusMessage,
	IntrinsicKind:          columnSpanKind,
	IntrinsicDuration:      columnDuration,
}

// Scope says where a SpanTest looks an attribute up.
type Scope uint8

// The scopes of attributes.
const (
	// ScopeSpanOrResource is the span's attribute if the span has the
	// key, else its resource's.
	ScopeSpanOrResource Scope = iota
	ScopeSpan
	ScopeResource
)

// SpanTest is a test of one field of a span: an intrinsic, or the
// attribute Key in Scope.
type SpanTest struct {
	Intrinsic Intrinsic
	Scope     Scope
	Key       string
	// Exists passes every span that has the field, whatever its value.
	Exists bool
	// Match otherwise judges a value of the field; a span without the
	// field fails. It is called once per distinct value of a record.
	Match func(Value) bool
}

// ValueType is the type of a Value.
type ValueType uint8

// The types of values. ValueNone is an attribute whose value is of a type
// a filter does not compare: bytes, an array, a map, or empty.
const (
	ValueNone ValueType = iota
	ValueString
	ValueInt
	ValueDouble
	ValueBool
)

// Value is a field's value as an index holds it. The name and the status
// message are strings; the status, the kind (their OTLP codes) and the
// duration (in nanoseconds), ints.
type Value struct {
	Type   ValueType
	Str    string
	Int    int64
	Double float64
	Bool   bool
}

// What the index says of a span, or of a value, as far as tests judged:
// whether it passes, fails, or could not be judged as the index does not
// hold the value.
const (
	stateFails int8 = iota
	statePasses
	stateUnknown
	stateAbsent // of a row: the column holds no value of it
)

// indexReader judges records' spans by their indexes, reusing its
// buffers from one record to the next.
type indexReader struct {
	tests []indexTest
	// spans holds each span's trace and resource.
	spans     []indexSpan
	resources int
	columns   string
	// state is each span's, over the tests judged so far.
	state []int8
	// values and rows are scratch for judging one column.
	values        []int8
	rows, rowsAlt []int8
}

type indexSpan struct{ trace, resource int }

// indexTest is a SpanTest and how indexes name its key.
type indexTest struct {
	*SpanTest
	// ref is 1 + the key's ID in the tail's keyTable; 0 if the table
	// lacks it, and indexes name it in full.
	ref uint64
}

// newIndexReader returns a reader judging tests. keys must be the tail's
// key table as it was once the records read were built: a key it lacks
// then is named in full in every index.
func newIndexReader(keys *keyTable, tests []SpanTest) *indexReader {
	r := &indexReader{tests: make([]indexTest, len(tests))}
	for i := range tests {
		r.tests[i].SpanTest = &tests[i]
		if id, ok := keys.lookup(tests[i].Key); ok && tests[i].Intrinsic == IntrinsicNone {
			r.tests[i].ref = id + 1
		}
	}
	return r
}

// reset reads index's header. The index is never written once built,
// so its strings are read in place.
func (r *indexReader) reset(index []byte) {
	ix := unsafe.String(unsafe.SliceData(index), len(index))
	n, ix := uvarint(ix)
	r.spans = r.spans[:0]
	for range n {
		var trace, resource uint64
		trace, ix = uvarint(ix)
		resource, ix = uvarint(ix)
		r.spans = append(r.spans, indexSpan{int(trace), int(resource)})
	}
	resources, ix := uvarint(ix)
	r.resources = int(resources)
	r.columns = ix
}

// match calls fn with the trace of each span of the record reset read
// that passes every test, and reports whether the index could judge them:
// false when a span passes every test the index could judge and a test
// reads a value it does not hold; fn may have been called then.
func (r *indexReader) match(fn func(trace int)) bool {
	r.state = fill(r.state, len(r.spans), statePasses)
	for i := range r.tests {
		if !r.judge(&r.tests[i]) {
			return true // no span passes
		}
	}
	decided := true
	for i, st := range r.state {
		switch st {
		case statePasses:
			fn(r.spans[i].trace)
		case stateUnknown:
			decided = false
		}
	}
	return decided
}

// judge applies test t to every span's state, and reports whether a span
// may still pass.
func (r *indexReader) judge(t *indexTest) bool {
	if t.Intrinsic == IntrinsicDuration {
		return r.judgeDurations(t)
	}
	if t.Intrinsic != IntrinsicNone {
		body, ok := r.column(columnOf[t.Intrinsic], t)
		if !ok {
			return false
		}
		values, refs, ok := r.judgeValues(body, t)
		if !ok {
			return false
		}
		alive := false
		for i := range r.state {
			var vid uint64
			vid, refs = uvarint(refs)
			alive = r.apply(i, values[vid]) || alive
		}
		return alive
	}
	var spanRows, resourceRows []int8
	spanAlive, resourceAlive := false, false
	if t.Scope != ScopeResource {
		r.rows = fill(r.rows, len(r.spans), stateAbsent)
		spanRows, spanAlive = r.rows, r.judgeRows(columnSpanAttr, t, r.rows)
	}
	if t.Scope != ScopeSpan {
		r.rowsAlt = fill(r.rowsAlt, r.resources, stateAbsent)
		resourceRows, resourceAlive = r.rowsAlt, r.judgeRows(columnResourceAttr, t, r.rowsAlt)
	}
	if !spanAlive && !resourceAlive {
		return false
	}
	alive := false
	for i := range r.state {
		st := stateAbsent
		if spanRows != nil {
			st = spanRows[i]
		}
		if st == stateAbsent && resourceRows != nil {
			st = resourceRows[r.spans[i].resource]
		}
		if st == stateAbsent {
			st = stateFails
		}
		alive = r.apply(i, st) || alive
	}
	return alive
}

// judgeDurations applies test t of the duration to every span's state,
// and reports whether a span may still pass.
func (r *indexReader) judgeDurations(t *indexTest) bool {
	durations, ok := r.column(columnDuration, t)
	if !ok {
		return false
	}
	alive := false
	for i := range r.state {
		var d int64
		d, durations = varint(durations)
		st := statePasses
		if r.state[i] != stateFails && !t.Exists && !t.Match(Value{Type: ValueInt, Int: d}) {
			st = stateFails
		}
		alive = r.apply(i, st) || alive
	}
	return alive
}

// apply combines span i's state with its state under one more test, and
// reports whether it may still pass.
func (r *indexReader) apply(i int, st int8) bool {
	switch {
	case r.state[i] == stateFails:
	case st == stateFails:
		r.state[i] = stateFails
	case st == stateUnknown:
		r.state[i] = stateUnknown
	}
	return r.state[i] != stateFails
}

// judgeRows sets the state under t of each row (span or resource) the
// attribute column of kind and t.Key gives a value, and reports whether
// one of them may pass. Rows whose values all fail are set too: a span's
// attribute hides its resource's.
func (r *indexReader) judgeRows(kind columnField, t *indexTest, rows []int8) bool {
	body, ok := r.column(kind, t)
	if !ok {
		return false
	}
	values, refs, alive := r.judgeValues(body, t)
	n, refs := uvarint(refs)
	row := 0
	for range n {
		var gap, vid uint64
		gap, refs = uvarint(refs)
		vid, refs = uvarint(refs)
		row += int(gap)
		rows[row] = values[vid]
		row++
	}
	return alive
}

// judgeValues judges each value of the column whose body is body, and
// returns their states, what follows them, and whether one of them may
// pass.
func (r *indexReader) judgeValues(body string, t *indexTest) ([]int8, string, bool) {
	n, body := uvarint(body)
	r.values = r.values[:0]
	alive := false
	for range n {
		var v Value
		tag := body[0]
		body = body[1:]
		st := statePasses
		switch tag {
		case tagString:
			var size uint64
			size, body = uvarint(body)
			v = Value{Type: ValueString, Str: body[:size]}
			body = body[size:]
		case tagInt:
			var n int64
			n, body = varint(body)
			v = Value{Type: ValueInt, Int: n}
		case tagDouble:
			var bits uint64
			for i := range 8 {
				bits |= uint64(body[i]) << (8 * i)
			}
			v = Value{Type: ValueDouble, Double: math.Float64frombits(bits)}
			body = body[8:]
		case tagTrue, tagFalse:
			v = Value{Type: ValueBool, Bool: tag == tagTrue}
		case tagLong:
			st = stateUnknown
		}
		switch {
		case t.Exists:
			st = statePasses
		case st == statePasses && !t.Match(v):
			st = stateFails
		}
		r.values = append(r.values, st)
		alive = alive || st != stateFails
	}
	return r.values, body, alive
}

// column returns the body of the column of kind holding the field t
// tests.
func (r *indexReader) column(kind columnField, t *indexTest) (string, bool) {
	for cols := r.columns; len(cols) > 0; {
		k := columnField(cols[0])
		cols = cols[1:]
		match := k == kind
		if k == columnSpanAttr || k == columnResourceAttr {
			var ref uint64
			ref, cols = uvarint(cols)
			if ref == 0 {
				var size uint64
				size, cols = uvarint(cols)
				match = match && cols[:size] == t.Key
				cols = cols[size:]
			} else {
				match = match && ref == t.ref
			}
		}
		size, rest := uvarint(cols)
		if match {
			return rest[:size], true
		}
		cols = rest[size:]
	}
	return "", false
}

// uvarint decodes an unsigned varint at the start of s, which the index
// built, and returns it and what follows.
func uvarint(s string) (uint64, string) {
	var x uint64
	for i := 0; ; i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<(7*i), s[i+1:]
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
}

// varint decodes a signed varint, as binary.AppendVarint encodes it.
func varint(s string) (int64, string) {
	u, rest := uvarint(s)
	return int64(u>>1) ^ -int64(u&1), rest
}

// fill returns buf resized to n, each element v.
func fill(buf []int8, n int, v int8) []int8 {
	if cap(buf) < n {
		buf = make([]int8, n)
	}
	buf = buf[:n]
	for i := range buf {
		buf[i] = v
	}
	return buf
}

package schema

import (
	"fmt"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// AppendRows appends one row per span of td to rows, in td's order. Rows of
// one resource (or scope) share its attribute slice: treat them as
// read-only. The rows do not alias td.
func AppendRows(rows []SpanRow, td ptrace.Traces) []SpanRow {
	rows = slices.Grow(rows, td.SpanCount())
	for _, rs := range td.ResourceSpans().All() {
		res := rs.Resource()
		resAttrs := appendAttributes(nil, res.Attributes())
		for _, ss := range rs.ScopeSpans().All() {
			scope := ss.Scope()
			scopeAttrs := appendAttributes(nil, scope.Attributes())
			for _, span := range ss.Spans().All() {
				rows = append(rows, SpanRow{
					ResourceAttrs:                  resAttrs,
					ResourceDroppedAttributesCount: res.DroppedAttributesCount(),
					ResourceSchemaURL:              rs.SchemaUrl(),
					ScopeName:                      scope.Name(),
					ScopeVersion:                   scope.Version(),
					ScopeAttrs:                     scopeAttrs,
					ScopeDroppedAttributesCount:    scope.DroppedAttributesCount(),
					ScopeSchemaURL:                 ss.SchemaUrl(),
				})
				r := &rows[len(rows)-1]
				r.setSpan(span)
				r.setSearchColumns()
			}
		}
	}
	return rows
}

func (r *SpanRow) setSpan(span ptrace.Span) {
	r.TraceID = span.TraceID()
	r.SpanID = span.SpanID()
	r.ParentSpanID = span.ParentSpanID()
	r.TraceState = span.TraceState().AsRaw()
	r.Flags = span.Flags()
	r.Name = span.Name()
	r.Kind = int32(span.Kind())
	r.StartUnixNano = uint64(span.StartTimestamp())
	r.DurationNano = int64(uint64(span.EndTimestamp()) - r.StartUnixNano)
	r.StatusCode = int32(span.Status().Code())
	r.StatusMessage = span.Status().Message()
	r.Attrs = appendAttributes(nil, span.Attributes())
	r.DroppedAttributesCount = span.DroppedAttributesCount()
	r.DroppedEventsCount = span.DroppedEventsCount()
	r.DroppedLinksCount = span.DroppedLinksCount()

	if n := span.Events().Len(); n > 0 {
		r.Events = make([]Event, 0, n)
		for _, e := range span.Events().All() {
			r.Events = append(r.Events, Event{
				TimeUnixNano:           uint64(e.Timestamp()),
				Name:                   e.Name(),
				Attrs:                  appendAttributes(nil, e.Attributes()),
				DroppedAttributesCount: e.DroppedAttributesCount(),
			})
		}
	}
	if n := span.Links().Len(); n > 0 {
		r.Links = make([]Link, 0, n)
		for _, l := range span.Links().All() {
			r.Links = append(r.Links, Link{
				TraceID:                l.TraceID(),
				SpanID:                 l.SpanID(),
				TraceState:             l.TraceState().AsRaw(),
				Flags:                  l.Flags(),
				Attrs:                  appendAttributes(nil, l.Attributes()),
				DroppedAttributesCount: l.DroppedAttributesCount(),
			})
		}
	}
}

// TracesFromRows rebuilds the spans of rows. Rows with the same resource go
// to one ResourceSpans, and rows with the same scope within it to one
// ScopeSpans, in the order they are first seen; spans keep the order of
// rows. It fails on an attribute value it cannot decode rather than return
// the trace without it.
func TracesFromRows(rows []SpanRow) (ptrace.Traces, error) {
	td := ptrace.NewTraces()
	resources := make(map[string]ptrace.ResourceSpans)
	scopes := make(map[string]ptrace.ScopeSpans)
	var key []byte
	for i := range rows {
		r := &rows[i]
		key = r.appendResourceKey(key[:0])
		rs, ok := resources[string(key)]
		if !ok {
			rs = td.ResourceSpans().AppendEmpty()
			if err := r.copyResource(rs); err != nil {
				return ptrace.Traces{}, err
			}
			resources[string(key)] = rs
		}
		key = r.appendScopeKey(key)
		ss, ok := scopes[string(key)]
		if !ok {
			ss = rs.ScopeSpans().AppendEmpty()
			if err := r.copyScope(ss); err != nil {
				return ptrace.Traces{}, err
			}
			scopes[string(key)] = ss
		}
		if err := r.copySpan(ss.Spans().AppendEmpty()); err != nil {
			return ptrace.Traces{}, err
		}
	}
	return td, nil
}

func (r *SpanRow) copyResource(rs ptrace.ResourceSpans) error {
	rs.SetSchemaUrl(r.ResourceSchemaURL)
	res := rs.Resource()
	res.SetDroppedAttributesCount(r.ResourceDroppedAttributesCount)
	if err := putAttributes(res.Attributes(), r.ResourceAttrs); err != nil {
		return fmt.Errorf("resource: %w", err)
	}
	return nil
}

func (r *SpanRow) copyScope(ss ptrace.ScopeSpans) error {
	ss.SetSchemaUrl(r.ScopeSchemaURL)
	scope := ss.Scope()
	scope.SetName(r.ScopeName)
	scope.SetVersion(r.ScopeVersion)
	scope.SetDroppedAttributesCount(r.ScopeDroppedAttributesCount)
	if err := putAttributes(scope.Attributes(), r.ScopeAttrs); err != nil {
		return fmt.Errorf("scope %q: %w", r.ScopeName, err)
	}
	return nil
}

func (r *SpanRow) copySpan(span ptrace.Span) error {
	span.SetTraceID(r.TraceID)
	span.SetSpanID(r.SpanID)
	span.SetParentSpanID(r.ParentSpanID)
	span.TraceState().FromRaw(r.TraceState)
	span.SetFlags(r.Flags)
	span.SetName(r.Name)
	span.SetKind(ptrace.SpanKind(r.Kind))
	span.SetStartTimestamp(pcommon.Timestamp(r.StartUnixNano))
	span.SetEndTimestamp(pcommon.Timestamp(r.EndUnixNano()))
	span.Status().SetCode(ptrace.StatusCode(r.StatusCode))
	span.Status().SetMessage(r.StatusMessage)
	span.SetDroppedAttributesCount(r.DroppedAttributesCount)
	span.SetDroppedEventsCount(r.DroppedEventsCount)
	span.SetDroppedLinksCount(r.DroppedLinksCount)
	if err := putAttributes(span.Attributes(), r.Attrs); err != nil {
		return fmt.Errorf("span %x: %w", r.SpanID, err)
	}

	events := span.Events()
	events.EnsureCapacity(len(r.Events))
	for i := range r.Events {
		re := &r.Events[i]
		e := events.AppendEmpty()
		e.SetTimestamp(pcommon.Timestamp(re.TimeUnixNano))
		e.SetName(re.Name)
		e.SetDroppedAttributesCount(re.DroppedAttributesCount)
		if err := putAttributes(e.Attributes(), re.Attrs); err != nil {
			return fmt.Errorf("span %x event %q: %w", r.SpanID, re.Name, err)
		}
	}

	links := span.Links()
	links.EnsureCapacity(len(r.Links))
	for i := range r.Links {
		rl := &r.Links[i]
		l := links.AppendEmpty()
		l.SetTraceID(rl.TraceID)
		l.SetSpanID(rl.SpanID)
		l.TraceState().FromRaw(rl.TraceState)
		l.SetFlags(rl.Flags)
		l.SetDroppedAttributesCount(rl.DroppedAttributesCount)
		if err := putAttributes(l.Attributes(), rl.Attrs); err != nil {
			return fmt.Errorf("span %x link %x: %w", r.SpanID, rl.SpanID, err)
		}
	}
	return nil
}

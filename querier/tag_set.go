package querier

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// Tag scopes, as Grafana's query builder names them: the keys of what
// TagNames returns, and the scopes TagValues takes.
const (
	ScopeSpan      = "span"
	ScopeResource  = "resource"
	ScopeIntrinsic = "intrinsic"
	// ScopeEvent, ScopeLink and ScopeInstrumentation hold the attributes
	// of spans' events, links and instrumentation scopes, which only
	// whole rows hold (block.Whole).
	ScopeEvent           = "event"
	ScopeLink            = "link"
	ScopeInstrumentation = "instrumentation"
)

// attributeScopes are the attribute scopes of tags, by their TraceQL
// scope.
var attributeScopes = map[string]traceql.Scope{
	ScopeSpan: traceql.ScopeSpan, ScopeResource: traceql.ScopeResource,
	ScopeEvent: traceql.ScopeEvent, ScopeLink: traceql.ScopeLink, ScopeInstrumentation: traceql.ScopeInstrumentation,
}

// TagValue is a distinct value of a tag, typed as Tempo's v2 API types it.
type TagValue struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// tagQuery says what a tags or values request collects. It travels to the
// owners of live tails, which collect from their own spans (liveTags).
type tagQuery struct {
	// Name is the tag whose values are collected; empty collects the
	// attribute names by scope.
	Name string `json:"name,omitempty"`
	// Scope of the values: span, resource, event, link, instrumentation,
	// intrinsic, or empty for the span and resource attributes and the
	// intrinsic of that name.
	Scope string `json:"scope,omitempty"`
	// Scopes are the attribute scopes whose names are collected; nil
	// means span and resource.
	Scopes []string `json:"scopes,omitempty"`
	// Limit caps the distinct values.
	Limit int `json:"limit,omitempty"`
}

// tagSet collects what a tagQuery asks from spans, safely from several
// goroutines.
type tagSet struct {
	q      tagQuery
	mu     sync.Mutex
	names  map[string]map[string]struct{} // by scope
	values map[TagValue]struct{}
}

// tagSetJSON is a tagSet on the wire between queriers.
type tagSetJSON struct {
	Names  map[string][]string `json:"names,omitempty"`
	Values []TagValue          `json:"values,omitempty"`
}

func newTagSet(q tagQuery) *tagSet {
	if q.Name == "" && q.Scopes == nil {
		q.Scopes = []string{ScopeSpan, ScopeResource}
	}
	names := make(map[string]map[string]struct{}, len(q.Scopes))
	for _, scope := range q.Scopes {
		if _, ok := attributeScopes[scope]; ok {
			names[scope] = map[string]struct{}{}
		}
	}
	return &tagSet{q: q, names: names, values: make(map[TagValue]struct{})}
}

// columns returns the columns of a block the query reads: tagColumns,
// and whole rows for events, links and the instrumentation scope.
func (q tagQuery) columns() block.Columns {
	whole := false
	if q.Name == "" {
		whole = slices.ContainsFunc(q.Scopes, func(s string) bool {
			return s == ScopeEvent || s == ScopeLink || s == ScopeInstrumentation
		})
	} else {
		switch q.Scope {
		case ScopeEvent, ScopeLink, ScopeInstrumentation:
			whole = true
		case ScopeIntrinsic, "":
			f, ok := traceql.IntrinsicField(q.Name)
			whole = ok && fieldColumns(f)&block.Whole != 0
		}
	}
	if whole {
		return tagColumns | block.Whole
	}
	return tagColumns
}

// add collects from one span. Only the fields of q.columns() are read.
func (s *tagSet) add(r *schema.SpanRow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.q.Name == "" {
		for scope, set := range s.names {
			eachAttribute(r, scope, func(a *schema.Attribute) { set[a.Key] = struct{}{} })
		}
		return
	}
	add := func(v traceql.Value) { s.addValueLocked(tagValue(v)) }
	if s.q.Scope == ScopeIntrinsic || s.q.Scope == "" {
		if f, ok := traceql.IntrinsicField(s.q.Name); ok {
			f.EachValue(r, func(v traceql.Value) {
				// An empty status message is no value: most spans
				// have none.
				if f.Intrinsic != traceql.IntrinsicStatusMessage || v.Str() != "" {
					add(v)
				}
			})
		}
	}
	if s.q.Scope == "" {
		for _, scope := range []traceql.Scope{traceql.ScopeSpan, traceql.ScopeResource} {
			traceql.Field{Scope: scope, Name: s.q.Name}.EachValue(r, add)
		}
	} else if scope, ok := attributeScopes[s.q.Scope]; ok {
		traceql.Field{Scope: scope, Name: s.q.Name}.EachValue(r, add)
	}
}

// eachAttribute calls fn with each attribute of a span in a tag scope: of
// every event or link for those scopes.
func eachAttribute(r *schema.SpanRow, scope string, fn func(*schema.Attribute)) {
	each := func(attrs []schema.Attribute) {
		for i := range attrs {
			fn(&attrs[i])
		}
	}
	switch scope {
	case ScopeSpan:
		each(r.Attrs)
	case ScopeResource:
		each(r.ResourceAttrs)
	case ScopeInstrumentation:
		each(r.ScopeAttrs)
	case ScopeEvent:
		for i := range r.Events {
			each(r.Events[i].Attrs)
		}
	case ScopeLink:
		for i := range r.Links {
			each(r.Links[i].Attrs)
		}
	}
}

func (s *tagSet) addValueLocked(v TagValue, ok bool) {
	if ok && len(s.values) < s.q.Limit {
		s.values[v] = struct{}{}
	}
}

// merge adds what another querier collected.
func (s *tagSet) merge(o tagSetJSON) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for scope, names := range o.Names {
		if set := s.names[scope]; set != nil {
			for _, n := range names {
				set[n] = struct{}{}
			}
		}
	}
	for _, v := range o.Values {
		s.addValueLocked(v, true)
	}
}

// byScope returns the names collected, sorted, with the intrinsics.
func (s *tagSet) byScope() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{ScopeIntrinsic: traceql.Intrinsics()}
	for scope, set := range s.names {
		// Never null in JSON: Grafana's editor iterates the list.
		out[scope] = slices.AppendSeq(make([]string, 0, len(set)), maps.Keys(set))
		slices.Sort(out[scope])
	}
	return out
}

// sortedValues returns the values collected, by type and value.
func (s *tagSet) sortedValues() []TagValue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.AppendSeq(make([]TagValue, 0, len(s.values)), maps.Keys(s.values))
	slices.SortFunc(out, func(a, b TagValue) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out
}

func (s *tagSet) json() tagSetJSON {
	if s.q.Name == "" {
		byScope := s.byScope()
		delete(byScope, ScopeIntrinsic)
		return tagSetJSON{Names: byScope}
	}
	return tagSetJSON{Values: s.sortedValues()}
}

// liveTags is the kind of live request that asks an owner for the tags
// its tail's spans hold, as a tags or values request without a query
// collects them; its arguments are a tagQuery, its answer a tagSetJSON.
const liveTags = "tags"

// digestTags is the digester of liveTags.
func digestTags(args json.RawMessage) (func(live.Slice) (any, error), error) {
	var tq tagQuery
	if err := json.Unmarshal(args, &tq); err != nil {
		return nil, fmt.Errorf("live request tags: %w", err)
	}
	return func(s live.Slice) (any, error) {
		set := newTagSet(tq)
		for _, tenant := range s.Tenants() {
			err := s.DecodeRows(tenant, func(rows []schema.SpanRow) {
				for i := range rows {
					set.add(&rows[i])
				}
			})
			if err != nil {
				return nil, err
			}
		}
		return set.json(), nil
	}, nil
}

// tagValue types a TraceQL value as Tempo's v2 API does: statuses and
// kinds are keywords, what Grafana offers unquoted (status = error, kind =
// server). Durations and values TraceQL cannot compare are no tag value.
func tagValue(v traceql.Value) (TagValue, bool) {
	switch v.Type() {
	case traceql.TypeString:
		return TagValue{"string", v.Str()}, true
	case traceql.TypeInt:
		return TagValue{"int", v.Text()}, true
	case traceql.TypeFloat:
		return TagValue{"float", v.Text()}, true
	case traceql.TypeBool:
		return TagValue{"bool", v.Text()}, true
	case traceql.TypeStatus, traceql.TypeKind:
		return TagValue{"keyword", v.Text()}, true
	}
	return TagValue{}, false
}

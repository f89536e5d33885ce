package querier

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/ptrace"

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
)

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
	// Scope of the values: span, resource, intrinsic, or empty for both
	// attribute scopes.
	Scope string `json:"scope,omitempty"`
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
	return &tagSet{
		q:      q,
		names:  map[string]map[string]struct{}{ScopeSpan: {}, ScopeResource: {}},
		values: make(map[TagValue]struct{}),
	}
}

// add collects from one span. Only the fields of tagColumns are read.
func (s *tagSet) add(r *schema.SpanRow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.q.Name == "" {
		for _, a := range r.Attrs {
			s.names[ScopeSpan][a.Key] = struct{}{}
		}
		for _, a := range r.ResourceAttrs {
			s.names[ScopeResource][a.Key] = struct{}{}
		}
		return
	}
	if s.q.Scope == ScopeIntrinsic || s.q.Scope == "" {
		s.addValueLocked(intrinsicValue(r, s.q.Name))
	}
	if s.q.Scope == ScopeSpan || s.q.Scope == "" {
		s.addValueLocked(tagValue(traceql.Field{Scope: traceql.ScopeSpan, Name: s.q.Name}.SpanValue(r)))
	}
	if s.q.Scope == ScopeResource || s.q.Scope == "" {
		s.addValueLocked(tagValue(traceql.Field{Scope: traceql.ScopeResource, Name: s.q.Name}.SpanValue(r)))
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
			err := s.Decode(tenant, func(td ptrace.Traces) {
				rows := schema.AppendRows(nil, td)
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

// intrinsicValue is the value of the intrinsic name (unscoped, as
// traceql.Intrinsics lists them) on a span. An empty status message is no
// value: most spans have none.
func intrinsicValue(r *schema.SpanRow, name string) (TagValue, bool) {
	f, ok := traceql.IntrinsicField(name)
	if !ok {
		return TagValue{}, false
	}
	v := f.SpanValue(r)
	if f.Intrinsic == traceql.IntrinsicStatusMessage && v.Str() == "" {
		return TagValue{}, false
	}
	return tagValue(v)
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

package querier

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// Tag scopes, as Grafana's query builder names them.
const (
	scopeSpan      = "span"
	scopeResource  = "resource"
	scopeIntrinsic = "intrinsic"
)

// intrinsicTags are the intrinsics Grafana offers in its query builder.
var intrinsicTags = []string{"duration", "kind", "name", "rootName", "rootServiceName", "status", "statusMessage", "traceDuration"}

// TagValue is a distinct value of a tag, typed as Tempo's v2 API types it.
type TagValue struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// tagColumns are the columns of a span tags and values read.
const tagColumns = block.Name | block.Kind | block.Status | block.SpanAttrs | block.ResourceAttrs

// scanSpans calls fn for every span of the tenants, in the live tail and
// in the blocks overlapping tr, that query selects. fn is called from
// several goroutines, and may keep the row's strings but not the row; only
// the fields of tagColumns are sure to be set.
//
// With a query, each trace is judged whole, as Search judges it. Without
// one, every span counts and traces do not matter: the sources are read
// span by span, only the columns tags and values read.
func (q *Querier) scanSpans(ctx context.Context, tenants []string, tr TimeRange, query *traceql.Query, fn func(*schema.SpanRow)) error {
	ctx, cancel := context.WithTimeout(ctx, q.cfg.QueryTimeout)
	defer cancel()
	if query != nil {
		_, err := q.scanTraces(ctx, traceScan{
			tenants: tenants,
			tr:      tr,
			query:   query,
			filter:  newCandidateFilter(query),
			visit: func(trace []schema.SpanRow) {
				if set, ok := query.Evaluate(trace); ok {
					for _, s := range set.Spans {
						fn(s.Row)
					}
				}
			},
		})
		return err
	}
	if err := q.Ready(); err != nil {
		return err
	}
	if err := q.blocklist.WaitLoaded(ctx); err != nil {
		return fmt.Errorf("wait for blocklist: %w", err)
	}
	for _, t := range tenants {
		rows, err := q.liveRows(ctx, t)
		if err != nil {
			return err
		}
		for i := range rows {
			fn(&rows[i])
		}
		err = q.eachBlock(ctx, q.blocksIn(t, tr), func(ctx context.Context, m *schema.BlockMeta) error {
			r, release, err := q.readers.get(ctx, m)
			if err != nil {
				return fmt.Errorf("open block %s/%s: %w", m.Tenant, m.BlockID, err)
			}
			defer release()
			err = r.Scan(ctx, block.ScanOptions{Columns: tagColumns}, func(row *schema.SpanRow) error {
				fn(row)
				return nil
			})
			if err != nil {
				return fmt.Errorf("scan block %s/%s: %w", m.Tenant, m.BlockID, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// TagNames returns the attribute names of the tenants' spans by scope.
func (q *Querier) TagNames(ctx context.Context, tenants []string, tr TimeRange, query *traceql.Query) (map[string][]string, error) {
	var mu sync.Mutex
	names := map[string]map[string]struct{}{scopeSpan: {}, scopeResource: {}}
	err := q.scanSpans(ctx, tenants, tr, query, func(r *schema.SpanRow) {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range r.Attrs {
			names[scopeSpan][a.Key] = struct{}{}
		}
		for _, a := range r.ResourceAttrs {
			names[scopeResource][a.Key] = struct{}{}
		}
	})
	if err != nil {
		return nil, err
	}
	out := map[string][]string{scopeIntrinsic: intrinsicTags}
	for scope, set := range names {
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out[scope] = keys
	}
	return out, nil
}

// TagValues returns the distinct values of a tag, at most limit of them.
// scope is span, resource, intrinsic, or empty for both attribute scopes.
func (q *Querier) TagValues(ctx context.Context, tenants []string, tr TimeRange, query *traceql.Query, scope, name string, limit int) ([]TagValue, error) {
	var mu sync.Mutex
	seen := make(map[TagValue]struct{})
	add := func(v TagValue, ok bool) {
		if ok && len(seen) < limit {
			seen[v] = struct{}{}
		}
	}
	err := q.scanSpans(ctx, tenants, tr, query, func(r *schema.SpanRow) {
		mu.Lock()
		defer mu.Unlock()
		if scope == scopeIntrinsic || scope == "" {
			add(intrinsicValue(r, name))
		}
		if scope == scopeSpan || scope == "" {
			add(attributeValue(r.Attrs, name))
		}
		if scope == scopeResource || scope == "" {
			add(attributeValue(r.ResourceAttrs, name))
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]TagValue, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b TagValue) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out, nil
}

// intrinsicValue is the value of intrinsic name on a span; keyword types
// are what Grafana offers unquoted (status = error, kind = server).
func intrinsicValue(r *schema.SpanRow, name string) (TagValue, bool) {
	switch name {
	case "name":
		return TagValue{"string", r.Name}, true
	case "status":
		return TagValue{"keyword", statusKeyword(ptrace.StatusCode(r.StatusCode))}, true
	case "kind":
		return TagValue{"keyword", kindKeyword(ptrace.SpanKind(r.Kind))}, true
	case "statusMessage":
		return TagValue{"string", r.StatusMessage}, r.StatusMessage != ""
	}
	return TagValue{}, false
}

func statusKeyword(c ptrace.StatusCode) string {
	switch c {
	case ptrace.StatusCodeOk:
		return "ok"
	case ptrace.StatusCodeError:
		return "error"
	}
	return "unset"
}

func kindKeyword(k ptrace.SpanKind) string {
	switch k {
	case ptrace.SpanKindInternal:
		return "internal"
	case ptrace.SpanKindServer:
		return "server"
	case ptrace.SpanKindClient:
		return "client"
	case ptrace.SpanKindProducer:
		return "producer"
	case ptrace.SpanKindConsumer:
		return "consumer"
	}
	return "unspecified"
}

// attributeValue is the value of attribute name, for the types TraceQL
// compares.
func attributeValue(attrs []schema.Attribute, name string) (TagValue, bool) {
	for _, a := range attrs {
		if a.Key != name {
			continue
		}
		switch {
		case a.Str != nil:
			return TagValue{"string", *a.Str}, true
		case a.Int != nil:
			return TagValue{"int", strconv.FormatInt(*a.Int, 10)}, true
		case a.Double != nil:
			return TagValue{"float", strconv.FormatFloat(*a.Double, 'g', -1, 64)}, true
		case a.Bool != nil:
			return TagValue{"bool", strconv.FormatBool(*a.Bool)}, true
		}
		return TagValue{}, false
	}
	return TagValue{}, false
}

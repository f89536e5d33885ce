package querier

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// tagColumns are the columns of a span tags and values read.
const tagColumns = block.Name | block.Kind | block.Status | block.SpanAttrs | block.ResourceAttrs

// collectTags collects into set from every span of the tenants, in the
// live tail and in the blocks overlapping tr, that query selects (every
// span when query is nil).
//
// With a query, each trace is judged whole, as Search judges it. Without
// one, every span counts and traces do not matter: the live tails' owners
// collect from their own spans and send only what they found, and blocks
// are read span by span, only the columns tags and values read.
func (q *Querier) collectTags(ctx context.Context, tenants []string, tr TimeRange, query *traceql.Query, set *tagSet) error {
	if query != nil {
		_, err := q.scanTraces(ctx, traceScan{
			tenants: tenants,
			tr:      tr,
			query:   query,
			columns: wholeColumns | hitColumns(query) | set.q.columns(),
			visit: func(trace []schema.SpanRow) bool {
				sets, ok := query.Evaluate(trace)
				for _, ss := range sets {
					for _, sp := range ss.Spans {
						set.add(sp.Row)
					}
				}
				return ok
			},
		})
		return err
	}
	if err := q.Ready(); err != nil {
		return err
	}
	// Tempo's tags answers have no status to say they may be partial:
	// without object storage, they list what the live tail holds.
	storage := q.newStorageWait()
	if _, err := storage.Wait(ctx, "first blocklist poll", q.waitPolled); err != nil {
		return fmt.Errorf("wait for blocklist: %w", err)
	}
	// The blocks are listed after the live tails answered, so that
	// records trimmed meanwhile are in blocks the blocklist knows.
	digests, _, err := q.live.Digests(ctx, live.Query{Tenants: tenants, Storage: storage}, liveTags, set.q)
	if err != nil {
		return err
	}
	for _, d := range digests {
		var found tagSetJSON
		if err := json.Unmarshal(d, &found); err != nil {
			return fmt.Errorf("decode live tags: %w", err)
		}
		set.merge(found)
	}
	for _, t := range tenants {
		_, err = q.eachBlock(ctx, q.blocksIn(t, tr), func(ctx context.Context, m *schema.BlockMeta) error {
			r, release, err := q.readers.get(ctx, m)
			if err != nil {
				return fmt.Errorf("open block %s/%s: %w", m.Tenant, m.BlockID, err)
			}
			defer release()
			err = r.Scan(ctx, block.ScanOptions{Columns: set.q.columns()}, func(row *schema.SpanRow) error {
				set.add(row)
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

// TagNames returns the attribute names of the tenants' spans by scope,
// span and resource, with the intrinsics.
func (q *Querier) TagNames(ctx context.Context, tenants []string, tr TimeRange, query *traceql.Query) (map[string][]string, error) {
	return q.TagNamesIn(ctx, tenants, tr, query, nil)
}

// TagNamesIn is TagNames for the attribute scopes asked: span, resource,
// event, link or instrumentation (nil means span and resource). The last
// three read blocks' rows whole, several times the bytes of the others.
func (q *Querier) TagNamesIn(ctx context.Context, tenants []string, tr TimeRange, query *traceql.Query, scopes []string) (map[string][]string, error) {
	set := newTagSet(tagQuery{Scopes: scopes})
	if err := q.collectTags(ctx, tenants, tr, query, set); err != nil {
		return nil, err
	}
	return set.byScope(), nil
}

// TagValues returns the distinct values of a tag, at most limit of them.
// scope is span, resource, event, link, instrumentation, intrinsic (name,
// status, event:name, link:traceID, ...), or empty for the span and
// resource attributes and the intrinsic of that name.
func (q *Querier) TagValues(ctx context.Context, tenants []string, tr TimeRange, query *traceql.Query, scope, name string, limit int) ([]TagValue, error) {
	set := newTagSet(tagQuery{Name: name, Scope: scope, Limit: limit})
	if err := q.collectTags(ctx, tenants, tr, query, set); err != nil {
		return nil, err
	}
	return set.sortedValues(), nil
}

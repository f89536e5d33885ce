package querier

import (
	"context"
	"fmt"
	"sync"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// MetricsRequest is a TraceQL metrics query over a time range.
type MetricsRequest struct {
	Query *traceql.MetricsQuery
	// Start and End bound the span start times counted, in unix
	// nanoseconds; Step is the width of a step. A range query aligns
	// them as Tempo does (see stepGrid); an instant one ignores Step.
	Start, End, Step uint64
	// Exemplars is how many exemplars the answer carries at most, spread
	// over its series, at most one per series and step; 0 carries none.
	Exemplars int
}

// MetricsResult is a metrics query's answer.
type MetricsResult struct {
	// Series are sorted by their labels (MetricsSeries.PromLabels). An
	// instant query's have one sample each.
	Series  []MetricsSeries
	Metrics SearchMetrics
	// Partial says why spans may be missing from the counts, if they
	// may.
	Partial Partial
}

// MetricsQueryRange evaluates a metrics query over the tenants' spans in
// the live tail and the blocks, each span once, and returns its series
// over the steps of [req.Start, req.End].
func (q *Querier) MetricsQueryRange(ctx context.Context, tenants []string, req MetricsRequest) (*MetricsResult, error) {
	return q.metricsQuery(ctx, tenants, req, false)
}

// MetricsQueryInstant is MetricsQueryRange with one step, the whole
// range: one value per series.
func (q *Querier) MetricsQueryInstant(ctx context.Context, tenants []string, req MetricsRequest) (*MetricsResult, error) {
	return q.metricsQuery(ctx, tenants, req, true)
}

// metricsQuery counts the spans the query selects, each once, judging
// each trace whole, as a search does, so that a query relating spans
// (&&, >>, aggregates, trace-level fields) means what it means in a
// search. It counts where the spans are stored (see
// tenantMetricsWhereStored), but for compare(), which is counted from
// whole traces read from the live tail and the blocks (see scanTraces).
func (q *Querier) metricsQuery(ctx context.Context, tenants []string, req MetricsRequest, instant bool) (*MetricsResult, error) {
	if req.Query == nil {
		return nil, badRequest("a metrics query is required")
	}
	grid, err := newStepGrid(req.Start, req.End, req.Step, instant)
	if err != nil {
		return nil, err
	}
	set := newSeriesSet(req.Query, grid, q.cfg.MetricsMaxSeries, req.Exemplars)
	spans := req.Query.Spans
	s := traceScan{
		tenants: tenants,
		tr:      grid.timeRange(),
		query:   spans,
		columns: hitColumns(spans),
		keys:    hitKeys(spans),
	}
	if req.Query.Func == traceql.MetricsCompare {
		// compare() reads every attribute of the spans.
		s.columns, s.keys = wholeColumns|block.SpanIDs, nil
	}
	var (
		read      scanned
		inspected SearchMetrics
	)
	read, inspected, err = q.metricsWhereStored(ctx, s, req, grid, set)
	if err != nil {
		return nil, err
	}
	if set.overflow {
		return nil, fmt.Errorf("%w: the query makes more than %d series (querier.metrics-max-series); narrow its filter or group by fewer fields",
			ErrTooManySeries, q.cfg.MetricsMaxSeries)
	}
	inspected.TotalBlocks, inspected.TotalBlockBytes, inspected.InspectedBytes = read.blocks, read.blockBytes, read.readBytes
	return &MetricsResult{Series: set.result(), Metrics: inspected, Partial: read.partial}, nil
}

// metricsOfWholeTraces counts into set the spans the query selects of
// each of its candidate traces, read whole (see scanTraces).
func (q *Querier) metricsOfWholeTraces(ctx context.Context, s traceScan, set *seriesSet) (scanned, SearchMetrics, error) {
	var (
		mu        sync.Mutex
		inspected SearchMetrics
	)
	s.visit = func(trace []schema.SpanRow) bool {
		mu.Lock()
		defer mu.Unlock()
		inspected.InspectedTraces++
		inspected.InspectedSpans += int64(len(trace))
		return set.observeTrace(trace)
	}
	read, err := q.scanTraces(ctx, s)
	return read, inspected, err
}

// metricsWhereStored counts into set the spans the query selects where
// they are stored (see tenantMetricsWhereStored), tenant by tenant; a
// tenant whose blocks changed meanwhile is counted from whole traces.
func (q *Querier) metricsWhereStored(ctx context.Context, s traceScan, req MetricsRequest, grid stepGrid, set *seriesSet) (scanned, SearchMetrics, error) {
	var (
		read      scanned
		inspected SearchMetrics
	)
	if err := q.Ready(); err != nil {
		return read, inspected, err
	}
	s.storage = q.newStorageWait()
	partial, err := s.storage.Wait(ctx, "first blocklist poll", q.waitPolled)
	read.partial = partial
	if err != nil {
		return read, inspected, fmt.Errorf("wait for blocklist: %w", err)
	}
	args := metricsArgs{
		Query: req.Query.String(), Start: req.Start, End: req.End, Step: req.Step, Instant: grid.instant,
		MaxSeries: set.maxSeries, Exemplars: set.exemplars, Sketches: true,
	}
	for _, tenant := range s.tenants {
		tset, tread, tinspected, ok, err := q.tenantMetricsWhereStored(ctx, s, tenant, req.Query, args, grid)
		if err == nil && !ok {
			q.logger.Debug("metrics: blocks changed while counting, counting from whole traces", "tenant", tenant)
			tset = newSeriesSet(req.Query, grid, set.maxSeries, set.exemplars)
			s.tenants = []string{tenant}
			tread, tinspected, err = q.metricsOfWholeTraces(ctx, s, tset)
		}
		read.add(tread)
		inspected.InspectedTraces += tinspected.InspectedTraces
		inspected.InspectedSpans += tinspected.InspectedSpans
		if err != nil {
			return read, inspected, err
		}
		if tset.comparison != nil {
			// compare() is counted whole, tenant by tenant.
			set.comparison.add(tset.comparison)
			set.overflow = set.overflow || set.comparison.overflow
			continue
		}
		if err := set.merge(tset.wire()); err != nil {
			return read, inspected, err
		}
	}
	return read, inspected, nil
}

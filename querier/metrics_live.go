package querier

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/spanlog/spanlog/querier/live"
	"github.com/spanlog/spanlog/querier/traceql"
	"github.com/spanlog/spanlog/schema"
)

// liveMetrics is the kind of live request that asks an owner for the
// partial series of a metrics query over its tail, each trace judged on
// its spans there (see tenantMetricsWhereStored): only the series travel
// between queriers, never spans.
const liveMetrics = "metrics"

// metricsArgs are the arguments of a request for partial series.
type metricsArgs struct {
	// Query is the metrics query as the client wrote it.
	Query string `json:"query"`
	// Start, End, Step and Instant lay out the steps, as the asker's.
	Start   uint64 `json:"start,string"`
	End     uint64 `json:"end,string"`
	Step    uint64 `json:"step,string"`
	Instant bool   `json:"instant,omitempty"`
	// MaxSeries and Exemplars bound the answer as the asker's.
	MaxSeries int `json:"maxSeries"`
	Exemplars int `json:"exemplars,omitempty"`
	// Exclude holds, per tenant, the IDs (hex) of the traces the owner
	// leaves out: those with spans elsewhere too, which the asker reads
	// whole.
	Exclude map[string][]string `json:"exclude,omitempty"`
	// Sketches says the asker reads a quantile's sketch (see
	// seriesPart.Sketches). A querier of an older version does not say
	// so, and gets every value, as it reads them: during a rolling
	// upgrade, old and new queriers ask each other.
	Sketches bool `json:"sketches,omitempty"`
}

// digestMetrics is the digester of liveMetrics: each tenant's partial
// series over the spans of a slice.
func digestMetrics(args json.RawMessage) (func(live.Slice) (any, error), error) {
	var a metricsArgs
	if err := json.Unmarshal(args, &a); err != nil {
		return nil, fmt.Errorf("live request metrics: %w", err)
	}
	query, err := traceql.ParseMetrics(a.Query)
	if err != nil {
		return nil, fmt.Errorf("live request query: %w", err)
	}
	grid, err := newStepGrid(a.Start, a.End, a.Step, a.Instant)
	if err != nil {
		return nil, fmt.Errorf("live request steps: %w", err)
	}
	if a.MaxSeries <= 0 {
		return nil, fmt.Errorf("live request metrics: maxSeries must be positive")
	}
	exclude := make(map[string]map[[16]byte]bool, len(a.Exclude))
	for tenant, ids := range a.Exclude {
		exclude[tenant] = make(map[[16]byte]bool, len(ids))
		for _, s := range ids {
			id, err := hex.DecodeString(s)
			if err != nil || len(id) != 16 {
				return nil, fmt.Errorf("live request metrics: trace ID %q is not 32 hex digits", s)
			}
			exclude[tenant][[16]byte(id)] = true
		}
	}
	return func(s live.Slice) (any, error) {
		out := make(map[string]seriesWire)
		for _, tenant := range s.Tenants() {
			var rows []schema.SpanRow
			if err := s.DecodeRows(tenant, func(r []schema.SpanRow) { rows = append(rows, r...) }); err != nil {
				return nil, err
			}
			set := a.newSet(query, grid)
			if sums := s.Summaries(tenant, nil); len(sums) > 0 {
				lo, hi := sums[0].Start, sums[0].End
				for _, sum := range sums {
					lo, hi = min(lo, sum.Start), max(hi, sum.End)
				}
				set.narrow(lo, hi)
			}
			// A span may be in the slice twice (see Slice.Decode).
			eachTrace(rows, func(trace []schema.SpanRow) {
				if !exclude[tenant][trace[0].TraceID] {
					set.observeTrace(schema.DedupeRows(trace))
				}
			})
			out[tenant] = set.wire()
		}
		return out, nil
	}, nil
}

// newSet returns an owner's set for the partial series of a request:
// one that keeps every value of a quantile when the asker does not read
// sketches.
func (a metricsArgs) newSet(query *traceql.MetricsQuery, grid stepGrid) *seriesSet {
	set := newSeriesSet(query, grid, a.MaxSeries, a.Exemplars)
	if !a.Sketches {
		set.exactValues = math.MaxInt
	}
	return set
}

// seriesWire is a seriesSet's partial series on the wire between
// queriers: sparse, only the steps where spans counted.
type seriesWire struct {
	Overflow bool         `json:"overflow,omitempty"`
	Series   []seriesPart `json:"series,omitempty"`
}

type seriesPart struct {
	Labels []valueWire `json:"labels"`
	// Steps are the steps where spans counted; the other fields hold a
	// value for each of them, when the function keeps it.
	Steps []int     `json:"steps"`
	Count []float64 `json:"count"`
	Sum   []float64 `json:"sum,omitempty"`
	Min   []float64 `json:"min,omitempty"`
	Max   []float64 `json:"max,omitempty"`
	// Values are a quantile's values at each step that keeps them (see
	// exactValues), and Sketches, when a step has one, its sketch at
	// each step (null at those with values). An older querier sends
	// values only.
	Values    [][]float64       `json:"values,omitempty"`
	Sketches  []*sketchJSON     `json:"sketches,omitempty"`
	Exemplars []MetricsExemplar `json:"exemplars,omitempty"`
	// ExemplarSteps are the exemplars' steps.
	ExemplarSteps []int `json:"exemplarSteps,omitempty"`
}

// valueWire is a traceql.Value on the wire.
type valueWire struct {
	Type traceql.Type `json:"t"`
	S    string       `json:"s,omitempty"`
	N    int64        `json:"n,omitempty"`
	F    float64      `json:"f,omitempty"`
}

func toWire(v traceql.Value) valueWire {
	w := valueWire{Type: v.Type()}
	switch v.Type() {
	case traceql.TypeString:
		w.S = v.Str()
	case traceql.TypeFloat:
		w.F = v.Float()
	case traceql.TypeDuration:
		w.N = int64(v.Duration())
	case traceql.TypeBool:
		if v.Bool() {
			w.N = 1
		}
	default:
		w.N = v.Int()
	}
	return w
}

func (w valueWire) value() (traceql.Value, error) {
	switch w.Type {
	case traceql.TypeNil:
		return traceql.Value{}, nil
	case traceql.TypeString:
		return traceql.StringValue(w.S), nil
	case traceql.TypeInt:
		return traceql.IntValue(w.N), nil
	case traceql.TypeFloat:
		return traceql.FloatValue(w.F), nil
	case traceql.TypeBool:
		return traceql.BoolValue(w.N != 0), nil
	case traceql.TypeDuration:
		return traceql.DurationValue(time.Duration(w.N)), nil
	case traceql.TypeStatus:
		return traceql.StatusValue(int32(w.N)), nil
	case traceql.TypeKind:
		return traceql.KindValue(int32(w.N)), nil
	}
	return traceql.Value{}, fmt.Errorf("label of unknown type %d", w.Type)
}

// wire returns the set's series as they travel.
func (s *seriesSet) wire() seriesWire {
	out := seriesWire{Overflow: s.overflow}
	for _, acc := range s.order {
		p := seriesPart{Exemplars: acc.exemplars, ExemplarSteps: acc.exemplarBucket}
		for _, v := range acc.labels {
			p.Labels = append(p.Labels, toWire(v))
		}
		for i, n := range acc.count {
			if n == 0 {
				continue
			}
			p.Steps = append(p.Steps, i+s.first)
			p.Count = append(p.Count, n)
			if acc.sum != nil {
				p.Sum = append(p.Sum, acc.sum[i])
			}
			if acc.min != nil {
				p.Min = append(p.Min, acc.min[i])
			}
			if acc.max != nil {
				p.Max = append(p.Max, acc.max[i])
			}
			if acc.quantiles != nil {
				appendQuantileWire(&p, &acc.quantiles[i])
			}
		}
		out.Series = append(out.Series, p)
	}
	return out
}

// merge adds the partial series w, of the same query and steps, to s.
func (s *seriesSet) merge(w seriesWire) error {
	s.overflow = s.overflow || w.Overflow
	n := s.grid.buckets()
	for _, p := range w.Series {
		s.vals = s.vals[:0]
		for _, l := range p.Labels {
			v, err := l.value()
			if err != nil {
				return err
			}
			s.vals = append(s.vals, v)
		}
		if len(s.vals) != len(s.q.By)+btoi(s.q.Func == traceql.MetricsHistogram) {
			return fmt.Errorf("partial series with %d labels", len(s.vals))
		}
		acc := s.series()
		if acc == nil {
			continue
		}
		for j, g := range p.Steps {
			if g < 0 || g >= n || j >= len(p.Count) {
				return fmt.Errorf("partial series with step %d of %d", g, n)
			}
			i := s.local(g)
			acc.count[i] += p.Count[j]
			switch {
			case acc.sum != nil && j < len(p.Sum):
				acc.sum[i] += p.Sum[j]
			case acc.min != nil && j < len(p.Min):
				acc.min[i] = math.Min(acc.min[i], p.Min[j])
			case acc.max != nil && j < len(p.Max):
				acc.max[i] = math.Max(acc.max[i], p.Max[j])
			case acc.quantiles != nil:
				var values []float64
				var sketch *ddsketch.DDSketch
				if j < len(p.Values) {
					values = p.Values[j]
				}
				if j < len(p.Sketches) && p.Sketches[j] != nil {
					sketch = p.Sketches[j].DDSketch
				}
				if err := acc.quantiles[i].merge(values, sketch, s.exactValues); err != nil {
					return fmt.Errorf("partial series at step %d: %w", g, err)
				}
			}
		}
		for j, e := range p.Exemplars {
			if j < len(p.ExemplarSteps) && len(acc.exemplars) < s.exemplars && !slices.Contains(acc.exemplarBucket, p.ExemplarSteps[j]) {
				acc.exemplars = append(acc.exemplars, e)
				acc.exemplarBucket = append(acc.exemplarBucket, p.ExemplarSteps[j])
			}
		}
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

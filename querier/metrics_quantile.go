package querier

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/pb/sketchpb"
	"github.com/DataDog/sketches-go/ddsketch/store"
	"google.golang.org/protobuf/proto"
)

// A quantile's step keeps its values, and is exact, while they are few;
// past exactValues it keeps a DDSketch instead, whose size is bounded
// whatever the number of values: a query's memory does not grow with the
// spans it counts. Every value is still counted, in the sketch; only the
// precision of the answer changes.
const (
	// exactValues is how many values a (series, step) keeps before it
	// turns to a sketch. Up to it the list costs at most 8 KiB, about what
	// a sketch of real latencies costs (their five decades or so fill
	// some 600 bins, 10 KiB with the stores' slack), so turning neither
	// saves nor costs much at the threshold; and every series of up to
	// 68 spans/s is still exact at the 15s step of an hour's range.
	exactValues = 1024
	// sketchAccuracy is the sketches' relative accuracy: a quantile is
	// within 1% of the value at its rank. 1% is finer than a latency panel
	// shows, and, with sketchBins, covers 17 decades.
	sketchAccuracy = 0.01
	// sketchBins bounds each of a sketch's two stores (positive and
	// negative values) to 16 KiB, so that a step holds at most 48 KiB
	// with the slack of the stores' growth (TestQuantileMemoryBounded);
	// zeros are a count. At 1% accuracy 2,048 bins span
	// a ratio of 6e17 between the smallest and the largest value (1 ns to
	// 19 years); past it the lowest bins are merged, which loses the
	// accuracy of the lowest quantiles only.
	sketchBins = 2048
)

// newSketch returns an empty sketch of sketchAccuracy in bounded stores.
// Sketches merge only with sketches of the same mapping.
func newSketch() *ddsketch.DDSketch {
	m, err := mapping.NewLogarithmicMapping(sketchAccuracy)
	if err != nil {
		panic(err) // a constant accuracy in (0, 1)
	}
	return ddsketch.NewDDSketchFromStoreProvider(m, boundedStore)
}

func boundedStore() store.Store { return store.NewCollapsingLowestDenseStore(sketchBins) }

// quantileAcc is what a quantile's (series, step) holds: its values, up
// to limit, else a sketch of them all.
type quantileAcc struct {
	values []float64
	sketch *ddsketch.DDSketch
}

// add counts x, turning the values into a sketch when there would be more
// than limit.
func (a *quantileAcc) add(x float64, limit int) {
	if a.sketch == nil && len(a.values) < limit {
		a.values = append(a.values, x)
		return
	}
	a.toSketch()
	sketchAdd(a.sketch, x)
}

// toSketch moves the values into a sketch, if not done yet.
func (a *quantileAcc) toSketch() {
	if a.sketch != nil {
		return
	}
	a.sketch = newSketch()
	for _, x := range a.values {
		sketchAdd(a.sketch, x)
	}
	a.values = nil
}

// sketchAdd adds x to s. The sketch holds the finite values of about
// ±2e-308 to ±1.7e308 (smaller ones as zeros); infinities are held as the
// largest, and NaN, which has no rank, is left out.
func sketchAdd(s *ddsketch.DDSketch, x float64) {
	if math.IsNaN(x) {
		return
	}
	x = math.Max(math.Min(x, s.MaxIndexableValue()), -s.MaxIndexableValue())
	_ = s.Add(x) // cannot fail: x is within the sketch's range and its count positive
}

// merge adds what another (series, step) counted: its values, or its
// sketch.
func (a *quantileAcc) merge(values []float64, sketch *ddsketch.DDSketch, limit int) error {
	for _, x := range values {
		a.add(x, limit)
	}
	if sketch == nil || sketch.IsEmpty() {
		return nil
	}
	a.toSketch()
	return a.sketch.MergeWith(sketch)
}

// quantile returns the q-quantile of the values counted: exact (see
// quantile) while they are few, else within sketchAccuracy of the value
// at rank q(n-1); false without any.
func (a *quantileAcc) quantile(q float64) (float64, bool) {
	if a.sketch == nil {
		return quantile(a.values, q)
	}
	v, err := a.sketch.GetValueAtQuantile(q)
	return v, err == nil
}

// sketchJSON is a sketch on the wire between queriers: its protobuf
// encoding (sketchpb.DDSketch, which names its mapping), in base64.
type sketchJSON struct{ *ddsketch.DDSketch }

func (s sketchJSON) MarshalJSON() ([]byte, error) {
	b, err := proto.Marshal(s.ToProto())
	if err != nil {
		return nil, fmt.Errorf("encode sketch: %w", err)
	}
	return json.Marshal(b)
}

// UnmarshalJSON reads a sketch into bounded stores, so that however many
// bins a peer sends, the asker holds at most sketchBins of each sign.
func (s *sketchJSON) UnmarshalJSON(data []byte) error {
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("sketch: %w", err)
	}
	var pb sketchpb.DDSketch
	if err := proto.Unmarshal(b, &pb); err != nil {
		return fmt.Errorf("sketch: %w", err)
	}
	sk, err := ddsketch.FromProtoWithStoreProvider(&pb, boundedStore)
	if err != nil {
		return fmt.Errorf("sketch: %w", err)
	}
	if !sk.IndexMapping.Equals(newSketch().IndexMapping) {
		return fmt.Errorf("sketch of another mapping (relative accuracy %g)", sk.RelativeAccuracy())
	}
	s.DDSketch = sk
	return nil
}

// appendQuantileWire adds a step's quantile to p: its values, or its
// sketch, Sketches being nil while no step has one.
func appendQuantileWire(p *seriesPart, a *quantileAcc) {
	if a.sketch == nil {
		p.Values = append(p.Values, a.values)
		if p.Sketches != nil {
			p.Sketches = append(p.Sketches, nil)
		}
		return
	}
	if p.Sketches == nil {
		p.Sketches = make([]*sketchJSON, len(p.Values), len(p.Steps))
	}
	p.Values = append(p.Values, nil)
	p.Sketches = append(p.Sketches, &sketchJSON{a.sketch})
}

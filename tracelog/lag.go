package tracelog

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Lag publishes how far a reader is behind the end of each partition, in
// records and in seconds, as spanlog_<component>_lag_records and
// spanlog_<component>_lag_seconds.
type Lag struct {
	records *prometheus.GaugeVec
	seconds *prometheus.GaugeVec
}

// NewLag registers the lag gauges of component (e.g. "block_builder") with reg.
func NewLag(reg prometheus.Registerer, component string) *Lag {
	l := &Lag{
		records: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spanlog_" + component + "_lag_records",
			Help: "Records of the partition the reader is not done with yet.",
		}, []string{"partition"}),
		seconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spanlog_" + component + "_lag_seconds",
			Help: "Age of the oldest record the reader is not done with; 0 when caught up.",
		}, []string{"partition"}),
	}
	reg.MustRegister(l.records, l.seconds)
	return l
}

// Observe updates the lag of partition after consuming up to the record
// last, given the partition's high watermark from the same fetch.
func (l *Lag) Observe(partition int32, last *kgo.Record, highWatermark int64, now time.Time) {
	behind := max(highWatermark-(last.Offset+1), 0)
	secs := 0.0
	if behind > 0 {
		secs = now.Sub(last.Timestamp).Seconds()
	}
	l.Set(partition, behind, secs)
}

// Set sets the lag of partition: records behind, and the age in seconds of
// the oldest record not yet done with.
func (l *Lag) Set(partition int32, records int64, seconds float64) {
	p := strconv.Itoa(int(partition))
	l.records.WithLabelValues(p).Set(float64(max(records, 0)))
	l.seconds.WithLabelValues(p).Set(max(seconds, 0))
}

// Forget drops the gauges of a partition this reader no longer owns.
func (l *Lag) Forget(partition int32) {
	p := strconv.Itoa(int(partition))
	l.records.DeleteLabelValues(p)
	l.seconds.DeleteLabelValues(p)
}

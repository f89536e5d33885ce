package tracelog

import (
	"errors"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
)

// Skipped counts the records a reader skipped, by reason, as
// spanlog_<component>_records_skipped_total, and logs the first one of
// each partition with its offset. A producer writing bad records writes
// many; one line per partition says where to look, the counter says how
// many.
type Skipped struct {
	total  *prometheus.CounterVec
	logger *slog.Logger

	mu     sync.Mutex
	logged map[int32]bool
}

// Reasons a record is skipped, the values of the reason label.
const (
	SkipNoSpans       = "no_spans"       // decodes, but holds no span
	SkipUnknownFormat = "unknown_format" // a format version this build cannot read
	SkipInvalidTenant = "invalid_tenant" // a tenant header no tenant can have
	SkipUndecodable   = "undecodable"    // not an OTLP trace request
)

// NewSkipped registers the counter of component (e.g. "block_builder")
// with reg.
func NewSkipped(reg prometheus.Registerer, component string, logger *slog.Logger) *Skipped {
	s := &Skipped{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_" + component + "_records_skipped_total",
			Help: "Records skipped because they hold no spans or do not decode, by reason.",
		}, []string{"reason"}),
		logger: logger,
		logged: make(map[int32]bool),
	}
	for _, reason := range []string{SkipNoSpans, SkipUnknownFormat, SkipInvalidTenant, SkipUndecodable} {
		s.total.WithLabelValues(reason)
	}
	reg.MustRegister(s.total)
	return s
}

// Add counts r, skipped because schema.DecodeRecord returned err.
func (s *Skipped) Add(r *kgo.Record, err error) {
	reason := skipReason(err)
	s.total.WithLabelValues(reason).Inc()
	s.mu.Lock()
	first := !s.logged[r.Partition]
	s.logged[r.Partition] = true
	s.mu.Unlock()
	if first {
		s.logger.Warn("skipping record; later ones of this partition are only counted in records_skipped_total",
			"partition", r.Partition, "offset", r.Offset, "reason", reason, "err", err)
	}
}

func skipReason(err error) string {
	switch {
	case errors.Is(err, schema.ErrNoSpans):
		return SkipNoSpans
	case errors.Is(err, schema.ErrUnknownFormat):
		return SkipUnknownFormat
	case errors.Is(err, tenant.ErrInvalid):
		return SkipInvalidTenant
	default:
		return SkipUndecodable
	}
}

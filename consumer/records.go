package consumer

import (
	"errors"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/schema"
	"github.com/spanlog/spanlog/tenant"
)

// ErrNoSpans is returned by Decode for a record that decodes but carries no
// span, such as an empty value: there is nothing in it to store or answer.
var ErrNoSpans = errors.New("record holds no spans")

// Decode returns the spans a fetched record carries and their tenant
// (defaultTenant when the record names none). A record that does not
// decode, or holds no span, is an error: a reader skips it and moves on,
// because reading it again can only fail again.
func Decode(r *kgo.Record, defaultTenant string) (string, ptrace.Traces, error) {
	t, td, err := schema.DecodeRecord(r, defaultTenant)
	if err != nil {
		return "", ptrace.Traces{}, err
	}
	if td.SpanCount() == 0 {
		return "", ptrace.Traces{}, ErrNoSpans
	}
	return t, td, nil
}

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

// Add counts r, skipped because Decode returned err.
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
	case errors.Is(err, ErrNoSpans):
		return SkipNoSpans
	case errors.Is(err, schema.ErrUnknownFormat):
		return SkipUnknownFormat
	case errors.Is(err, tenant.ErrInvalid):
		return SkipInvalidTenant
	default:
		return SkipUndecodable
	}
}

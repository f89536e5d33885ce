package producer

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	spansReceived       *prometheus.CounterVec
	bytesReceived       *prometheus.CounterVec
	spansRejected       *prometheus.CounterVec
	attributesTruncated *prometheus.CounterVec
	produceDuration     prometheus.Histogram
	requests            *prometheus.CounterVec
	requestDuration     *prometheus.HistogramVec
	recordsWritten      *prometheus.CounterVec
	recordBytesWritten  *prometheus.CounterVec
}

// Values of the reason label of spans rejected.
const (
	reasonInvalidSpan     = "invalid_span"
	reasonTraceTooLarge   = "trace_too_large"
	reasonRequestTooLarge = "request_too_large"
	reasonRateLimited     = "rate_limited"
	reasonUnavailable     = "kafka_unavailable"
	reasonBufferFull      = "buffer_full"
	reasonStopping        = "shutting_down"
	reasonInternal        = "internal"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		spansReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_distributor_spans_received_total",
			Help: "Spans received, accepted or not.",
		}, []string{"tenant"}),
		bytesReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_distributor_bytes_received_total",
			Help: "Size of the spans received, as OTLP protobuf, accepted or not.",
		}, []string{"tenant"}),
		spansRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_distributor_spans_rejected_total",
			Help: "Spans of requests that got an error, by reason.",
		}, []string{"tenant", "reason"}),
		attributesTruncated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_distributor_attributes_truncated_total",
			Help: "Attribute keys and values truncated to the tenant's max-attribute-bytes.",
		}, []string{"tenant"}),
		produceDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "spanlog_distributor_produce_duration_seconds",
			Help:    "Time from handing a request's records to the Kafka client until all were acknowledged (and with the embedded Kafka synced to disk) or the request gave up.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_distributor_requests_total",
			Help: "OTLP export requests answered, by protocol (grpc, http) and status code (gRPC code name, HTTP status).",
		}, []string{"protocol", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "spanlog_distributor_request_duration_seconds",
			Help:    "Time from an OTLP export request's arrival to its answer, by protocol.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"protocol"}),
		recordsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_distributor_records_written_total",
			Help: "Records Kafka acknowledged.",
		}, []string{"partition"}),
		recordBytesWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanlog_distributor_record_bytes_written_total",
			Help: "Size of the values of the records Kafka acknowledged.",
		}, []string{"partition"}),
	}
	for _, c := range []prometheus.Collector{m.spansReceived, m.bytesReceived, m.spansRejected, m.attributesTruncated,
		m.produceDuration, m.requests, m.requestDuration, m.recordsWritten, m.recordBytesWritten} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// observeRequest counts a request of protocol answered with code, started
// at start.
func (m *metrics) observeRequest(protocol, code string, start time.Time) {
	m.requests.WithLabelValues(protocol, code).Inc()
	m.requestDuration.WithLabelValues(protocol).Observe(time.Since(start).Seconds())
}

// rejectReason names why Push failed with err, for spansRejected.
func rejectReason(err error) string {
	switch {
	case isType[*InvalidSpanError](err):
		return reasonInvalidSpan
	case isType[*TraceTooLargeError](err):
		return reasonTraceTooLarge
	case isType[*RequestTooLargeError](err):
		return reasonRequestTooLarge
	case isType[*RateLimitedError](err):
		return reasonRateLimited
	case errors.Is(err, errBufferFull):
		return reasonBufferFull
	case errors.Is(err, errStopping):
		return reasonStopping
	case isType[*UnavailableError](err):
		return reasonUnavailable
	}
	return reasonInternal
}

package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/schema"
)

// errNotReady is why writes fail before the trace log's partitions are
// known.
var errNotReady = errors.New("distributor not ready: the Kafka topic is not set up yet")

// Push writes td's spans for tenant to the trace log, split into records of
// at most Config.MaxRecordBytes by partition and trace, and returns a nil
// error only once Kafka acknowledged every record. It returns an
// *InvalidSpanError, a *TraceTooLargeError or a *RequestTooLargeError, with
// nothing written, for a request that must not be retried unchanged; a
// *RateLimitedError for one over its tenant's ingestion rate, to retry
// later; and an *UnavailableError for one that should be retried: Kafka did
// not ack in time, the buffer for Kafka is full, or Run is stopping. An
// empty td is accepted and writes nothing. Attribute keys and values over
// the tenant's max-attribute-bytes are truncated, and the warning returned
// says so, for the client.
//
// Push takes td: once it returns, td's spans may have been moved into the
// records, so the caller must not use it again. Moving rather than copying
// saves a third of Push's CPU before Kafka (BenchmarkSplit), and the
// receivers decode a fresh td per request anyway.
//
// The receivers call Push for requests in JSON, and in protobuf when
// pushProto leaves them to pdata. It is safe for concurrent use.
func (d *Distributor) Push(ctx context.Context, tenant string, td ptrace.Traces) (warning string, err error) {
	return d.observe(ctx, tenant, td.SpanCount(), d.limits.For(tenant), func(lim limits.Limits, partitions int32) (splitRequest, string, error) {
		return d.indexDecoded(td, tenant, lim, partitions)
	})
}

// indexDecoded truncates td's attributes over the tenant's
// max-attribute-bytes, counting them, and indexes it.
func (d *Distributor) indexDecoded(td ptrace.Traces, tenant string, lim limits.Limits, partitions int32) (splitRequest, string, error) {
	var warning string
	if lim.MaxAttributeBytes > 0 {
		if n := truncateAttributes(td, int(lim.MaxAttributeBytes)); n > 0 {
			d.metrics.attributesTruncated.WithLabelValues(tenant).Add(float64(n))
			warning = fmt.Sprintf("%d attribute keys or values were truncated to %d bytes (max-attribute-bytes of tenant %s)",
				n, lim.MaxAttributeBytes, tenant)
		}
	}
	l, err := indexRequest(td, tenant, partitions)
	return &decodedRequest{layout: l, td: td}, warning, err
}

// pushProto is Push for a request in protobuf, body, as the receivers get
// it, nesting checked: it splits body's bytes into records without
// decoding them when it can (see wire.go), and decodes it with pdata for
// Push otherwise.
func (d *Distributor) pushProto(ctx context.Context, tenant string, body []byte) (warning string, err error) {
	// Partitions are known once, and never change after.
	if partitions := d.partitions.Load(); partitions > 0 {
		lim := d.limits.For(tenant)
		if req, ok := scanRequest(body, tenant, partitions, int(lim.MaxAttributeBytes)); ok {
			return d.observe(ctx, tenant, len(req.spans), lim, func(limits.Limits, int32) (splitRequest, string, error) {
				return req, "", nil
			})
		}
	}
	req, err := unmarshalProto(body)
	if err != nil {
		return "", err
	}
	return d.Push(ctx, tenant, req.Traces())
}

// splitRequest is a request indexed for splitting into records, decoded
// by pdata or still in protobuf.
type splitRequest interface {
	index() *layout
	// values returns the values of the records laid out as records.
	values(records []recordSize) ([][]byte, error)
}

func (r *wireRequest) index() *layout { return &r.layout }

// decodedRequest is a request pdata decoded.
type decodedRequest struct {
	*layout
	td ptrace.Traces
}

func (r *decodedRequest) index() *layout { return r.layout }

func (r *decodedRequest) values(records []recordSize) ([][]byte, error) {
	var m ptrace.ProtoMarshaler
	out := make([][]byte, len(records))
	for i, batch := range r.build(r.td, records) {
		v, err := m.MarshalTraces(batch)
		if err != nil {
			return nil, fmt.Errorf("encode record for partition %d: %w", records[i].partition, err)
		}
		out[i] = v
	}
	return out, nil
}

// observe counts and logs a Push of spans spans, which push does with
// index within lim, the tenant's limits.
func (d *Distributor) observe(ctx context.Context, tenant string, spans int, lim limits.Limits, index indexFunc) (warning string, err error) {
	if spans == 0 {
		return "", nil
	}
	d.metrics.spansReceived.WithLabelValues(tenant).Add(float64(spans))
	warning, err = d.push(ctx, tenant, lim, index)
	if err == nil {
		return warning, nil
	}
	reason := rejectReason(err)
	d.metrics.spansRejected.WithLabelValues(tenant, reason).Add(float64(spans))
	// The client's mistakes and a stopping distributor are no news: the
	// reply tells the client.
	level := slog.LevelDebug
	switch reason {
	case reasonUnavailable, reasonBufferFull, reasonInternal:
		level = slog.LevelWarn
	}
	d.logger.Log(ctx, level, "push rejected", "tenant", tenant, "spans", spans, "reason", reason, "err", err)
	return "", err
}

// indexFunc indexes a request for splitting, within the tenant's limits
// lim, over partitions partitions, and returns it and a warning for the
// client. With an error, it returns the request too, for its size.
type indexFunc func(lim limits.Limits, partitions int32) (splitRequest, string, error)

// push checks and splits a request, the cheap checks first, and writes it.
// Nothing is copied into records before every limit has passed.
func (d *Distributor) push(ctx context.Context, tenant string, lim limits.Limits, index indexFunc) (warning string, err error) {
	if !d.pushes.enter() {
		return "", &UnavailableError{Err: errStopping}
	}
	defer d.pushes.leave()
	partitions := d.partitions.Load()
	if partitions == 0 {
		return "", d.unavailable(errNotReady)
	}
	req, warning, err := index(lim, partitions)
	l := req.index()
	d.metrics.bytesReceived.WithLabelValues(tenant).Add(float64(l.size))
	if err != nil {
		return "", err
	}
	framing := recordFraming(schema.NewRecord(tenant, nil))
	sizes, err := l.assign(int(d.cfg.MaxRecordBytes)-framing, framing)
	if err != nil {
		return "", err
	}
	if err := d.checkRecordBytes(sizes, framing); err != nil {
		return "", err
	}
	// The rate is charged last, for requests that can be written.
	reservation, err := d.rates.reserve(tenant, lim, l.size, time.Now())
	if err != nil {
		return "", err
	}
	if err := d.writeRecords(ctx, tenant, req, sizes); err != nil {
		if reservation != nil {
			// The client retries what was not acked: charge it then.
			reservation.Cancel()
		}
		return "", err
	}
	return warning, nil
}

// writeRecords builds req's records as sizes lay them out, and produces them.
func (d *Distributor) writeRecords(ctx context.Context, tenant string, req splitRequest, sizes []recordSize) error {
	values, err := req.values(sizes)
	if err != nil {
		return err
	}
	records := make([]*kgo.Record, len(sizes))
	for i, v := range values {
		records[i] = schema.NewRecord(tenant, v)
		records[i].Partition = sizes[i].partition
	}
	return d.produce(ctx, records)
}

// checkRecordBytes refuses a request whose records would take more than
// MaxRequestRecordBytes, before any is built: the sizes assign computed are
// exact, so the request's resources and scopes are not copied into records
// only to find them too many.
func (d *Distributor) checkRecordBytes(sizes []recordSize, framing int) error {
	var total int64
	for _, r := range sizes {
		total += int64(r.total + framing)
	}
	if total <= d.cfg.MaxRequestRecordBytes {
		return nil
	}
	return &RequestTooLargeError{Size: total, Limit: d.cfg.MaxRequestRecordBytes, Setting: "max-request-record-bytes",
		Detail: fmt.Sprintf("split by partition and trace into %d Kafka records, each repeating the resources and scopes of its spans, it needs %d bytes", len(sizes), total)}
}

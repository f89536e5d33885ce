package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/ptrace"

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
// Both receivers call Push; it is safe for concurrent use.
func (d *Distributor) Push(ctx context.Context, tenant string, td ptrace.Traces) (warning string, err error) {
	spans := td.SpanCount()
	if spans == 0 {
		return "", nil
	}
	d.metrics.spansReceived.WithLabelValues(tenant).Add(float64(spans))
	warning, err = d.push(ctx, tenant, td)
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

// push checks and splits td, the cheap checks first, and writes it. Nothing
// is copied into records before every limit has passed.
func (d *Distributor) push(ctx context.Context, tenant string, td ptrace.Traces) (warning string, err error) {
	if !d.pushes.enter() {
		return "", &UnavailableError{Err: errStopping}
	}
	defer d.pushes.leave()
	partitions := d.partitions.Load()
	if partitions == 0 {
		return "", d.unavailable(errNotReady)
	}
	lim := d.limits.For(tenant)
	if lim.MaxAttributeBytes > 0 {
		if n := truncateAttributes(td, int(lim.MaxAttributeBytes)); n > 0 {
			d.metrics.attributesTruncated.WithLabelValues(tenant).Add(float64(n))
			warning = fmt.Sprintf("%d attribute keys or values were truncated to %d bytes (max-attribute-bytes of tenant %s)",
				n, lim.MaxAttributeBytes, tenant)
		}
	}
	l, err := indexRequest(td, tenant, partitions)
	d.metrics.bytesReceived.WithLabelValues(tenant).Add(float64(l.size))
	if err != nil {
		return "", err
	}
	empty, err := schema.EncodeRecord(tenant, ptrace.NewTraces())
	if err != nil {
		return "", err
	}
	framing := recordFraming(empty)
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
	if err := d.writeRecords(ctx, tenant, td, l, sizes); err != nil {
		if reservation != nil {
			// The client retries what was not acked: charge it then.
			reservation.Cancel()
		}
		return "", err
	}
	return warning, nil
}

// writeRecords builds td's records as l and sizes lay them out, and produces them.
func (d *Distributor) writeRecords(ctx context.Context, tenant string, td ptrace.Traces, l *layout, sizes []recordSize) error {
	records := make([]*kgo.Record, len(sizes))
	for i, batch := range l.build(td, sizes) {
		r, err := schema.EncodeRecord(tenant, batch)
		if err != nil {
			return fmt.Errorf("record for partition %d: %w", sizes[i].partition, err)
		}
		r.Partition = sizes[i].partition
		records[i] = r
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

package producer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/tracelog"
)

// maxBufferedRecords bounds the records waiting for Kafka by count, which
// MaxBufferedBytes does not: each costs some memory beyond its bytes, and a
// request of small traces makes many small records. It is franz-go's
// default, set here so that the buffer-full error can tell it.
const maxBufferedRecords = 50_000

func newClient(cfg Config, kafka tracelog.Config) (*kgo.Client, error) {
	opts := append(kafka.ClientOpts("spanlog-distributor"),
		kgo.DefaultProduceTopic(kafka.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// acks=all makes an ack durable; franz-go then also writes
		// idempotently (its default), so its retries add no duplicates.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// No linger, rather than franz-go's default of 10ms: every request
		// waits for its ack, so a linger adds to each request's latency,
		// and an OTLP SDK sends one request at a time. Batching happens
		// anyway: while a produce request is in flight, the records of
		// other requests gather into the next one. BenchmarkPush measured
		// 8x the spans/s of one client and 1.9x of 16 concurrent ones
		// against a 5ms linger.
		kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(int32(cfg.MaxRecordBytes)),
		kafka.ProducerCompression(),
		// Records a request gave up on must not pile up while Kafka is
		// down. franz-go does not expire records it sent to a broker
		// that vanished before answering, though: to keep its
		// idempotence, it holds them until the broker is back to learn
		// whether they were written. The two limits below bound them,
		// and checkBuffer fails new requests at once while the buffer
		// is full.
		kgo.RecordDeliveryTimeout(cfg.WriteTimeout),
		kgo.MaxBufferedBytes(int(cfg.MaxBufferedBytes)),
		kgo.MaxBufferedRecords(maxBufferedRecords),
		// When a broker goes away, the client waits for fresh metadata
		// before it dials again, and by default asks at most every 5s:
		// writes then failed for up to 5s after Kafka was back. A
		// second bounds that wait; against a healthy cluster, metadata
		// is not asked for more often.
		kgo.MetadataMinAge(time.Second),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

// recordFraming is the most a record batch holding only r adds to r's
// value: the batch header and the record's own fields, with every varint
// counted at its widest. It bounds what franz-go checks against
// ProducerBatchMaxBytes and the broker against message.max.bytes.
func recordFraming(r *kgo.Record) int {
	const (
		batchHeader   = 61
		widestVarint  = 5
		widestVarlong = 10
	)
	n := batchHeader +
		widestVarint + // record length
		1 + // attributes
		widestVarlong + // timestamp delta
		widestVarint + // offset delta
		widestVarint + len(r.Key) +
		widestVarint + // value length
		widestVarint // header count
	for _, h := range r.Headers {
		n += widestVarint + len(h.Key) + widestVarint + len(h.Value)
	}
	return n
}

// LogSyncer makes records a broker acknowledged durable, for a broker whose
// ack does not mean that.
type LogSyncer interface {
	// Sync returns nil once every record acknowledged on any of
	// partitions before the call is on disk, an error if that failed,
	// and ctx's cause if ctx ends first.
	Sync(ctx context.Context, partitions []int32) error
}

// produce writes records and waits until Kafka acknowledged all of them,
// and the LogSyncer, if any, synced them, at most WriteTimeout. On failure some records may have been written; the
// client retries and readers drop the duplicates.
//
// Records are produced with a context of their own, not the request's:
// franz-go cancels a whole partition's buffered records when the first
// record of a batch is cancelled, so one client hanging up would fail the
// requests of others. And TryProduce refuses at once, rather than blocking,
// when the client's buffer is full: that is backpressure the client sees as
// Unavailable.
func (d *Distributor) produce(ctx context.Context, records []*kgo.Record) error {
	if err := d.checkBuffer(records); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, d.cfg.WriteTimeout,
		fmt.Errorf("no ack from Kafka within the write timeout of %v", d.cfg.WriteTimeout))
	defer cancel()
	start := time.Now()
	defer func() { d.metrics.produceDuration.Observe(time.Since(start).Seconds()) }()

	acks := make(chan error, len(records))
	for _, r := range records {
		d.client.TryProduce(context.Background(), r, func(r *kgo.Record, err error) {
			if err == nil {
				p := strconv.Itoa(int(r.Partition))
				d.metrics.recordsWritten.WithLabelValues(p).Inc()
				d.metrics.recordBytesWritten.WithLabelValues(p).Add(float64(len(r.Value)))
			}
			acks <- err
		})
	}
	for range records {
		select {
		case err := <-acks:
			switch {
			case errors.Is(err, kgo.ErrMaxBuffered):
				return d.unavailable(d.bufferFull(records))
			case err != nil:
				return d.unavailable(fmt.Errorf("produce: %w", err))
			}
		case <-ctx.Done():
			return d.unavailable(context.Cause(ctx))
		}
	}
	if d.logSyncer != nil {
		if err := d.logSyncer.Sync(ctx, partitionsOf(records)); err != nil {
			return d.unavailable(fmt.Errorf("sync the log: %w", err))
		}
	}
	return nil
}

// partitionsOf returns the partitions records go to, each once.
func partitionsOf(records []*kgo.Record) []int32 {
	partitions := make([]int32, 0, len(records))
	for _, r := range records {
		if !slices.Contains(partitions, r.Partition) {
			partitions = append(partitions, r.Partition)
		}
	}
	return partitions
}

// unavailable reports err as Kafka trouble. The client is told to wait a
// write timeout before it retries: the records buffered now are acked or
// expire within about that time (all but those a vanished broker never
// answered), so a retry sooner would most likely fail again.
func (d *Distributor) unavailable(err error) *UnavailableError {
	return &UnavailableError{Err: err, RetryAfter: d.cfg.WriteTimeout}
}

// checkBuffer fails a request whose records do not fit beside those already
// waiting for Kafka, before any of them is buffered. TryProduce enforces the
// same limits, and exactly where concurrent requests race past this check,
// but record by record: a request it refused halfway would leave records
// behind that take room and may be written for nothing.
func (d *Distributor) checkBuffer(records []*kgo.Record) error {
	size := bufferedSize(records)
	if d.client.BufferedProduceRecords()+int64(len(records)) <= maxBufferedRecords &&
		d.client.BufferedProduceBytes()+size <= d.cfg.MaxBufferedBytes {
		return nil
	}
	return d.unavailable(d.bufferFull(records))
}

// bufferFull says how full the buffer is that records do not fit in.
func (d *Distributor) bufferFull(records []*kgo.Record) error {
	return fmt.Errorf("%w: %d records of %d bytes wait already, this request needs %d of %d bytes more; the limits are %d records and %d bytes (max-buffered-bytes)",
		errBufferFull, d.client.BufferedProduceRecords(), d.client.BufferedProduceBytes(),
		len(records), bufferedSize(records), maxBufferedRecords, d.cfg.MaxBufferedBytes)
}

// bufferedSize is what records count against MaxBufferedBytes: franz-go
// counts keys, values and headers.
func bufferedSize(records []*kgo.Record) int64 {
	var n int
	for _, r := range records {
		n += len(r.Key) + len(r.Value)
		for _, h := range r.Headers {
			n += len(h.Key) + len(h.Value)
		}
	}
	return int64(n)
}

package producer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/tracelog"
)

func newClient(cfg Config, log tracelog.Config) (*kgo.Client, error) {
	opts := append(log.ClientOpts("spanlog-distributor"),
		kgo.DefaultProduceTopic(log.Topic),
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
		// Records a request gave up on must not pile up while Kafka is
		// down.
		kgo.RecordDeliveryTimeout(cfg.WriteTimeout),
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

// produce writes records and waits until Kafka acknowledged all of them,
// at most WriteTimeout. On failure some records may have been written; the
// client retries and readers drop the duplicates.
//
// Records are produced with a context of their own, not the request's:
// franz-go cancels a whole partition's buffered records when the first
// record of a batch is cancelled, so one client hanging up would fail the
// requests of others. And TryProduce refuses at once, rather than blocking,
// when the client's buffer is full: that is backpressure the client sees as
// Unavailable.
func (d *Distributor) produce(ctx context.Context, records []*kgo.Record) error {
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
			if err != nil {
				return &UnavailableError{Err: fmt.Errorf("produce: %w", err)}
			}
		case <-ctx.Done():
			return &UnavailableError{Err: context.Cause(ctx)}
		}
	}
	return nil
}

package tracelog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The log's offsets, per partition: where it starts (StartOffsets), where
// it ends (EndOffsets), and where a consumer group stands in it
// (CommittedOffsets). Blocks hold the records below the block-builders'
// committed offsets; the queriers' live tails hold those from there to
// the end.

// EndOffsets returns, per partition of topic, the offset the next record
// will get: everything acked so far lies below it.
func EndOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	return listOffsets(ctx, "end", kadm.NewClient(cl).ListEndOffsets, topic)
}

// StartOffsets returns, per partition of topic, the first offset retention
// has kept.
func StartOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	return listOffsets(ctx, "start", kadm.NewClient(cl).ListStartOffsets, topic)
}

// OffsetsAfter returns, per partition of topic, the first offset of a
// record stamped at t or later, or the end offset where there is none:
// every record below it is older than t.
func OffsetsAfter(ctx context.Context, cl *kgo.Client, topic string, t time.Time) (map[int32]int64, error) {
	return offsetsAfter(ctx, kadm.NewClient(cl), topic, t)
}

func offsetsAfter(ctx context.Context, adm *kadm.Client, topic string, t time.Time) (map[int32]int64, error) {
	return listOffsets(ctx, "time", func(ctx context.Context, topics ...string) (kadm.ListedOffsets, error) {
		return adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topics...)
	}, topic)
}

func listOffsets(ctx context.Context, which string, list func(context.Context, ...string) (kadm.ListedOffsets, error), topic string) (map[int32]int64, error) {
	offs, err := list(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list %s offsets of %s: %w", which, topic, err)
	}
	out := make(map[int32]int64)
	var errs []string
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Sprintf("partition %d: %v", o.Partition, o.Err))
			return
		}
		out[o.Partition] = o.Offset
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("list %s offsets of %s: %s", which, topic, strings.Join(errs, "; "))
	}
	return out, nil
}

// CommittedOffsets returns, per partition of topic, the offset group has committed:
// the next offset the group will consume. Partitions without a commit are
// absent, and a group that never committed has none.
func CommittedOffsets(ctx context.Context, cl *kgo.Client, group, topic string) (map[int32]int64, error) {
	out := make(map[int32]int64)
	resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err == nil {
		err = resp.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	for p, o := range resp[topic] {
		if o.At >= 0 {
			out[p] = o.At
		}
	}
	return out, nil
}

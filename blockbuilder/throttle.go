package blockbuilder

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// How a builder keeps the records it holds within MaxBufferedBytes.
//
// A partition's records stay in memory, compressed (see record), from
// their fetch until their block is written: the pending block (at most one
// cycle, and MaxBlockBytes, of the partition) and what was fetched past
// its cut. MaxBufferedBytes counts the memory they take. While the loop writes
// cut blocks it reads nothing, so the records held come to about one
// cycle of every owned partition, in steady ingest as in a backlog of any
// length. They can add up to more when the partitions' positions in time
// drift apart, or when the partitions are many and their blocks large.
// Past MaxBufferedBytes, the builder pauses fetching every owned partition
// but the one whose pending block is largest. That one reads on until its
// block is cut (by the next cycle's first record, by MaxBlockBytes, or
// idle) and written, which frees the most; then the builder looks again.
// So the records held stay under MaxBufferedBytes plus one block and one
// fetch, and the paused partitions' lag grows meanwhile.

// assignPartitions is the group's OnPartitionsAssigned callback.
func (b *Builder) assignPartitions(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range assigned[b.kafka.Topic] {
		b.owned[p] = true
	}
}

// throttle pauses or resumes the owned partitions' fetches for
// MaxBufferedBytes. It runs in the loop, between a flush and the next poll,
// and tells the client under the lock that the group's callbacks take, so
// that a partition revoked meanwhile is never left paused.
func (b *Builder) throttle(cl *kgo.Client) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var held int64
	largest := int32(-1)
	for id, p := range b.parts {
		held += p.held
		if largest < 0 || p.held > b.parts[largest].held {
			largest = id
		}
	}
	var pause, resume []int32
	for id := range b.owned {
		switch want := held >= b.cfg.MaxBufferedBytes && id != largest; {
		case want && !b.paused[id]:
			pause = append(pause, id)
			b.paused[id] = true
		case !want && b.paused[id]:
			resume = append(resume, id)
			delete(b.paused, id)
		}
	}
	if len(pause) > 0 {
		cl.PauseFetchPartitions(map[string][]int32{b.kafka.Topic: pause})
	}
	if len(resume) > 0 {
		cl.ResumeFetchPartitions(map[string][]int32{b.kafka.Topic: resume})
	}
	b.metrics.bufferedBytes.Set(float64(held))
	b.metrics.pausedPartitions.Set(float64(len(b.paused)))
}

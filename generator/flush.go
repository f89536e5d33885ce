package generator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/tracelog"
)

// How a partition's series survive its owner.
//
// Every FlushInterval the generator saves the state of each partition it
// owns that changed, one object per partition holding the entries and
// the offset of the next record to read, and only then publishes them
// and commits the offset. The saved state is the truth: a generator that
// is assigned the partition loads it and reads on from its offset, not
// from the group's commit, which only shows the progress to Kafka's
// tools. A crash loses what was derived since the last save, and the
// next owner derives it again from the log: each span is counted once.

// stateName is the object holding a partition's state. "~" is no
// character of a tenant ID, so the blocklist and the compactor, which
// look for tenants at the bucket's top level, never take it for one.
func stateName(group string, partition int32) string {
	return "~metrics-generator/" + group + "/" + strconv.Itoa(int(partition))
}

// saveConcurrency is how many states are uploaded at once.
const saveConcurrency = 4

type saveJob struct {
	p    *partitionState
	obj  []byte
	snap *snapshot
	err  error
}

// flush saves the partitions whose state changed, publishes what was
// saved, and commits the offsets saved.
func (g *Generator) flush(ctx context.Context, cl *kgo.Client) {
	now := g.now()
	g.mu.Lock()
	var jobs []*saveJob
	active := make(map[string]int)
	for _, p := range g.parts {
		for id, t := range p.tenants {
			active[id] += t.active
		}
		if p.saved {
			continue
		}
		jobs = append(jobs, &saveJob{p: p, obj: encodeState(p, g.fingerprint), snap: takeSnapshot(p, now)})
	}
	g.mu.Unlock()
	g.metrics.setActive(active)
	if len(jobs) == 0 {
		return
	}

	start := g.now()
	sem := make(chan struct{}, saveConcurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			j.err = g.bucket.Upload(ctx, stateName(g.cfg.ConsumerGroup, j.p.partition), bytes.NewReader(j.obj))
		})
	}
	wg.Wait()
	g.metrics.saveDuration.Observe(g.now().Sub(start).Seconds())

	commit := make(map[int32]kgo.EpochOffset)
	g.mu.Lock()
	for _, j := range jobs {
		if j.err != nil {
			g.metrics.saves.WithLabelValues("failure").Inc()
			g.logger.Warn("saving a partition's series failed; retried at the next flush, the series published stay those of the last save",
				"partition", j.p.partition, "err", j.err)
			continue
		}
		g.metrics.saves.WithLabelValues("success").Inc()
		if g.parts[j.p.partition] != j.p {
			continue // dropped meanwhile
		}
		j.p.saved = true
		clearFresh(j.p)
		g.publish(j.p.partition, j.snap)
		commit[j.p.partition] = kgo.EpochOffset{Epoch: -1, Offset: j.p.offset}
	}
	g.mu.Unlock()
	if len(commit) > 0 {
		// The commit only shows progress to Kafka's tools (lag); a
		// failed one changes nothing of what is counted.
		cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{g.kafka.Topic: commit}, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				g.logger.Debug("committing the generator's offsets failed", "err", err)
			}
		})
	}
}

// resume is the group's AdjustFetchOffsetsFn: it loads the saved state of
// each partition assigned, and starts reading each at its state's offset.
// A partition without a state starts at the group's commit, or else at
// the end of the log, with a state saved at once, so that from then on
// every span is counted once.
func (g *Generator) resume(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	assigned := offsets[g.kafka.Topic]
	if len(assigned) == 0 {
		return offsets, nil
	}
	states := make(map[int32]*partitionState, len(assigned))
	var fresh []int32
	for p, off := range assigned {
		st, err := g.load(ctx, p)
		if err != nil {
			return nil, err
		}
		if st == nil {
			if eo := off.EpochOffset(); eo.Offset >= 0 {
				st = newPartitionState(p, eo.Offset)
			} else {
				fresh = append(fresh, p)
				continue
			}
		}
		states[p] = st
	}
	if len(fresh) > 0 {
		ends, err := g.endOffsets(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range fresh {
			states[p] = newPartitionState(p, ends[p])
		}
	}
	now := g.now()
	for p, st := range states {
		if !st.saved {
			if err := g.bucket.Upload(ctx, stateName(g.cfg.ConsumerGroup, p), bytes.NewReader(encodeState(st, g.fingerprint))); err != nil {
				return nil, fmt.Errorf("save the state of partition %d: %w", p, err)
			}
			st.saved = true
		}
		assigned[p] = kgo.NewOffset().At(st.offset)
	}
	g.mu.Lock()
	for p, st := range states {
		g.parts[p] = st
		g.publish(p, takeSnapshot(st, now))
	}
	g.metrics.partitions.Set(float64(len(g.parts)))
	g.mu.Unlock()
	g.logger.Info("metrics-generator partitions assigned", "partitions", slices.Sorted(maps.Keys(states)))
	return offsets, nil
}

// load returns the saved state of partition, nil if there is none. It
// retries errors of object storage until ctx ends. A state that does not
// decode is logged and replaced, its series starting again from zero.
func (g *Generator) load(ctx context.Context, partition int32) (*partitionState, error) {
	name := stateName(g.cfg.ConsumerGroup, partition)
	backoff := 100 * time.Millisecond
	for {
		obj, err := objstore.ReadAll(ctx, g.bucket, name)
		if objstore.IsNotExist(err) {
			return nil, nil
		}
		if err == nil {
			st, compatible, err := g.derive.decodeState(obj, partition)
			if err != nil {
				g.logger.Error("a partition's saved series do not decode; they start again from zero", "partition", partition, "err", err)
				return nil, nil
			}
			if !compatible {
				g.logger.Warn("a partition's saved series were derived under other labels or buckets; they start again from zero at the saved offset", "partition", partition)
			}
			return st, nil
		}
		g.logger.Warn("cannot read a partition's saved series; retrying", "partition", partition, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (g *Generator) endOffsets(ctx context.Context) (map[int32]int64, error) {
	cl, err := kgo.NewClient(g.kafka.ClientOpts("spanlog-metrics-generator")...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	backoff := 100 * time.Millisecond
	for {
		ends, err := tracelog.EndOffsets(ctx, cl, g.kafka.Topic)
		if err == nil {
			return ends, nil
		}
		g.logger.Warn("cannot read the log's end offsets; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// drop forgets the partitions the group took away. What was derived
// since their last save, their next owner derives again.
func (g *Generator) drop(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range lost[g.kafka.Topic] {
		delete(g.parts, p)
		g.metrics.lag.Forget(p)
		g.unpublish(p)
	}
	g.metrics.partitions.Set(float64(len(g.parts)))
}

func (g *Generator) publish(partition int32, s *snapshot) {
	g.pubMu.Lock()
	g.published[partition] = s
	g.pubMu.Unlock()
}

// unpublish stops publishing a partition's series at once, so that they
// never come from two generators: the next owner publishes them from the
// last save, which is at or past what this one published.
func (g *Generator) unpublish(partition int32) {
	g.pubMu.Lock()
	delete(g.published, partition)
	g.pubMu.Unlock()
}

// publishedSnapshots returns the snapshots published, by partition.
func (g *Generator) publishedSnapshots() []*snapshot {
	g.pubMu.RLock()
	defer g.pubMu.RUnlock()
	out := make([]*snapshot, 0, len(g.published))
	for _, p := range slices.Sorted(maps.Keys(g.published)) {
		out = append(out, g.published[p])
	}
	return out
}

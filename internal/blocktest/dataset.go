package blocktest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// Spec describes a dataset of one tenant's blocks as block-builders would
// have written them from a log of Partitions partitions: every cycle, each
// partition's records of that cycle become one block. Every trace is one
// record, whole in one block.
type Spec struct {
	Tenant     string `json:"tenant"`
	Seed       uint64 `json:"seed"`
	Partitions int32  `json:"partitions"`
	// Cycles is the number of block-builder cycles; the dataset has
	// Cycles*Partitions blocks.
	Cycles int `json:"cycles"`
	// SpansPerBlock is the mean spans of a block; hashing traces to
	// partitions and traces of 3 to 17 spans make blocks vary around it.
	SpansPerBlock int `json:"spansPerBlock"`
	// Cycle is the time one cycle covers: the traces of cycle c start in
	// [Start+c*Cycle, Start+(c+1)*Cycle).
	Cycle time.Duration `json:"cycle"`
	// Start is when the first cycle begins.
	Start time.Time `json:"start"`
	// CompactWindow, if not zero, has each partition's blocks of every
	// window of this length (counted from Start) merged by block.Compact
	// into one, as a compactor would, and only the merged blocks kept.
	CompactWindow time.Duration `json:"compactWindow,omitempty"`
}

// Blocks is the number of blocks the block-builders write, before any
// compaction.
func (s Spec) Blocks() int { return s.Cycles * int(s.Partitions) }

// tracesPerCycle is the traces all partitions receive in one cycle.
func (s Spec) tracesPerCycle() int {
	return int(s.Partitions) * s.SpansPerBlock / meanTraceSpans
}

// Validate reports a Spec no dataset can be built from.
func (s Spec) Validate() error {
	switch {
	case s.Tenant == "":
		return errors.New("dataset: no tenant")
	case s.Partitions <= 0 || s.Cycles <= 0:
		return errors.New("dataset: partitions and cycles must be positive")
	case s.SpansPerBlock < 10*meanTraceSpans:
		return fmt.Errorf("dataset: %d spans per block leaves partitions without traces", s.SpansPerBlock)
	case s.Cycle <= 0:
		return errors.New("dataset: cycle must be positive")
	case s.CompactWindow < 0:
		return errors.New("dataset: negative compaction window")
	}
	return nil
}

// Stats counts what a dataset holds, so that benchmarks can say what their
// queries had to find.
type Stats struct {
	Blocks int   `json:"blocks"`
	Traces int64 `json:"traces"`
	Spans  int64 `json:"spans"`
	// Bytes is the size of the blocks' Parquet files.
	Bytes int64 `json:"bytes"`
	// ErrorSpans have status error; SlowErrorSpans of them last over 100ms.
	ErrorSpans     int64 `json:"errorSpans"`
	SlowErrorSpans int64 `json:"slowErrorSpans"`
	// StatusCode5xxSpans have an HTTP status code of 500 or more,
	// LegacyStatusCode5xxSpans under the old key http.status_code.
	StatusCode5xxSpans       int64            `json:"statusCode5xxSpans"`
	LegacyStatusCode5xxSpans int64            `json:"legacyStatusCode5xxSpans"`
	SpansByService           map[string]int64 `json:"spansByService"`
}

func (st *Stats) add(s *genSpan) {
	st.Spans++
	if st.SpansByService == nil {
		st.SpansByService = make(map[string]int64)
	}
	st.SpansByService[services[s.service]]++
	if s.failed {
		st.ErrorSpans++
		if s.end.Sub(s.start) > 100*time.Millisecond {
			st.SlowErrorSpans++
		}
	}
	if (s.kind == kindServer || s.kind == kindClient) && s.status >= 500 {
		st.StatusCode5xxSpans++
		if legacyHTTP(s.service) {
			st.LegacyStatusCode5xxSpans++
		}
	}
}

func (st *Stats) merge(o *Stats) {
	st.Traces += o.Traces
	st.Spans += o.Spans
	st.ErrorSpans += o.ErrorSpans
	st.SlowErrorSpans += o.SlowErrorSpans
	st.StatusCode5xxSpans += o.StatusCode5xxSpans
	st.LegacyStatusCode5xxSpans += o.LegacyStatusCode5xxSpans
	if st.SpansByService == nil {
		st.SpansByService = make(map[string]int64)
	}
	for k, v := range o.SpansByService {
		st.SpansByService[k] += v
	}
}

// Manifest is what building a dataset produced.
type Manifest struct {
	Spec  Spec  `json:"spec"`
	Stats Stats `json:"stats"`
	// SampleTraceIDs are trace IDs spread over every block, in hex.
	SampleTraceIDs []string `json:"sampleTraceIDs"`
	// BuildTime is how long Build took.
	BuildTime time.Duration `json:"buildTime"`
}

// maxSamples is about how many trace IDs the manifest lists: the first
// trace of every block, and every so many traces of the dataset.
const maxSamples = 2000

// blockJob is one block to build: a partition's traces of one cycle.
type blockJob struct {
	cycle     int
	partition int32
	traces    []int // indexes within the cycle
	offsets   schema.OffsetRange
}

// Build writes the dataset spec describes to bkt: its blocks, through
// block.Builder, and the tenant index. The same spec always yields the
// same blocks, byte for byte apart from the metas' creation times.
func Build(ctx context.Context, bkt objstore.Bucket, spec Spec) (*Manifest, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	began := time.Now()
	jobs, committed := plan(spec)
	man := &Manifest{Spec: spec}
	every := max(1, spec.Cycles*spec.tracesPerCycle()/maxSamples)

	metas := make([]*schema.BlockMeta, len(jobs))
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next = make(chan int)
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for k := range next {
				j := &jobs[k]
				m, st, samples, err := buildBlock(ctx, bkt, spec, j, every)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					metas[k] = m
					man.Stats.merge(st)
					man.Stats.Bytes += m.Size
					man.SampleTraceIDs = append(man.SampleTraceIDs, samples...)
				}
				mu.Unlock()
			}
		})
	}
	for k := range jobs {
		if ctx.Err() != nil {
			break
		}
		next <- k
	}
	close(next)
	wg.Wait()
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return nil, err
	}
	if spec.CompactWindow > 0 {
		var err error
		if metas, err = compact(ctx, bkt, spec, jobs, metas); err != nil {
			return nil, err
		}
		man.Stats.Bytes = 0
		for _, m := range metas {
			man.Stats.Bytes += m.Size
		}
	}
	man.Stats.Blocks = len(metas)
	slices.Sort(man.SampleTraceIDs)
	err := block.WriteIndex(ctx, bkt, &schema.TenantIndex{
		Format: schema.TenantIndexFormatV1, Tenant: spec.Tenant, BuiltAt: time.Now().UTC(),
		Committed: committed, Metas: metas,
	})
	if err != nil {
		return nil, err
	}
	man.BuildTime = time.Since(began)
	return man, nil
}

// plan assigns each cycle's traces to partitions, as the distributor does,
// and gives each partition's block of a cycle the log offsets that follow
// its previous block's. It returns the blocks to build and the offset the
// block-builders would have committed on each partition.
func plan(spec Spec) ([]blockJob, map[int32]int64) {
	next := make(map[int32]int64, spec.Partitions)
	var jobs []blockJob
	for c := range spec.Cycles {
		byPartition := make([][]int, spec.Partitions)
		for i := range spec.tracesPerCycle() {
			p := schema.Partition(spec.Tenant, traceID(traceRNG(spec.Seed, c, i)), spec.Partitions)
			byPartition[p] = append(byPartition[p], i)
		}
		for p, traces := range byPartition {
			if len(traces) == 0 {
				continue
			}
			part := int32(p)
			r := schema.OffsetRange{Partition: part, Start: next[part], End: next[part] + int64(len(traces))}
			next[part] = r.End
			jobs = append(jobs, blockJob{cycle: c, partition: part, traces: traces, offsets: r})
		}
	}
	return jobs, next
}

// buildBlock generates job's traces and writes them as one block.
func buildBlock(ctx context.Context, bkt objstore.Bucket, spec Spec, job *blockJob, every int) (*schema.BlockMeta, *Stats, []string, error) {
	st := &Stats{}
	b := block.NewBuilder(spec.Tenant, block.DefaultOptions())
	cycleStart := spec.Start.Add(time.Duration(job.cycle) * spec.Cycle)
	var samples []string
	for k, i := range job.traces {
		rng := traceRNG(spec.Seed, job.cycle, i)
		id := traceID(rng)
		start := cycleStart.Add(time.Duration(rng.Int64N(int64(spec.Cycle))))
		td := genTrace(rng, id, start, st)
		b.Add(td)
		if k == 0 || (job.cycle*spec.tracesPerCycle()+i)%every == 0 {
			samples = append(samples, hex.EncodeToString(id[:]))
		}
	}
	m, err := b.Write(ctx, bkt, []schema.OffsetRange{job.offsets})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("build block %d of partition %d: %w", job.cycle, job.partition, err)
	}
	return m, st, samples, nil
}

// compact merges the blocks of each partition and compaction window into
// one, deletes the blocks merged, and returns the metas of the blocks
// left. metas[k] is the block of jobs[k].
func compact(ctx context.Context, bkt objstore.Bucket, spec Spec, jobs []blockJob, metas []*schema.BlockMeta) ([]*schema.BlockMeta, error) {
	type window struct {
		partition int32
		n         int64
	}
	groups := make(map[window][]*schema.BlockMeta)
	for k, j := range jobs {
		w := window{j.partition, int64(time.Duration(j.cycle) * spec.Cycle / spec.CompactWindow)}
		groups[w] = append(groups[w], metas[k])
	}
	var (
		mu   sync.Mutex
		out  []*schema.BlockMeta
		errs []error
		wg   sync.WaitGroup
		next = make(chan []*schema.BlockMeta)
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for inputs := range next {
				m, err := compactGroup(ctx, bkt, inputs)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					out = append(out, m)
				}
				mu.Unlock()
			}
		})
	}
	for _, inputs := range groups {
		if ctx.Err() != nil {
			break
		}
		next <- inputs
	}
	close(next)
	wg.Wait()
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *schema.BlockMeta) int { return a.MinStart.Compare(b.MinStart) })
	return out, nil
}

// compactGroup merges inputs into one block and deletes them; a single
// input stays as it is.
func compactGroup(ctx context.Context, bkt objstore.Bucket, inputs []*schema.BlockMeta) (*schema.BlockMeta, error) {
	if len(inputs) == 1 {
		return inputs[0], nil
	}
	m, err := block.Compact(ctx, bkt, inputs, block.DefaultOptions())
	if err != nil {
		return nil, err
	}
	for _, in := range inputs {
		for _, name := range []string{block.MetaName(in.Tenant, in.BlockID), block.DataName(in.Tenant, in.BlockID)} {
			if err := bkt.Delete(ctx, name); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// trace returns trace i of cycle c as the dataset holds it.
func (s Spec) trace(c, i int) ptrace.Traces {
	rng := traceRNG(s.Seed, c, i)
	id := traceID(rng)
	start := s.Start.Add(time.Duration(c)*s.Cycle + time.Duration(rng.Int64N(int64(s.Cycle))))
	return genTrace(rng, id, start, &Stats{})
}

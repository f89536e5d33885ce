package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/internal/loadgen"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// soakSystem is what a soak runs against, and how it measures it.
type soakSystem struct {
	name string
	// otlp is the OTLP/gRPC endpoint, api a querier's HTTP address, ops
	// the HTTP address of the process that runs the compactor, whose
	// metrics tell the log's offsets and the compactions.
	otlp, api, ops string
	// procs are the processes whose RSS is sampled.
	procs       []*process
	bucket      objstore.Bucket
	bucketBytes func(context.Context) (int64, error)
	// logDir is the Kafka data directory.
	logDir string
}

// soakTenant is the tenant of a process without multi-tenancy.
const soakTenant = "single-tenant"

// runSoak runs the load of p against sys, samples sys and checks the
// acked traces while it goes on, then checks that what was sampled
// levels off, and that everything goes once past retention.
func runSoak(t *testing.T, p soakProfile, sys *soakSystem) {
	load := startSegmentedLoad(t, soakLoad(p, sys.otlp), p.segment)
	s := startSampler(t, p, sys, load.started)
	c := &soakChecker{t: t, p: p, sys: sys, load: load, sampler: s}

	// Before any compaction: as soon as blocks hold some of the load.
	waitFor(t, 60*time.Second, "a first block and a first segment of load", func() bool {
		return len(load.segments()) > 0 && metric(t, sys.ops, "spanlog_compactor_blocks") > 0
	})
	c.check("first blocks")
	for next := load.started.Add(p.checkEvery); next.Before(load.started.Add(p.duration)); next = next.Add(p.checkEvery) {
		time.Sleep(time.Until(next))
		c.check("under load")
	}
	time.Sleep(time.Until(load.started.Add(p.duration)))
	load.stop(t)
	stopped := time.Now()
	s.stop()
	c.report()

	// After compaction: the log in blocks, every window over merged.
	c.waitCommitted()
	c.waitWindowsMerged(stopped)
	c.check("after compaction")

	if s.err != nil {
		t.Errorf("%s: sampling: %v", sys.name, s.err)
	}
	samples := s.samples()
	// A block is deleted a grace after retention passes it, by a
	// compaction cycle, which may be late on a loaded machine.
	bound := p.blockRetention + p.grace + p.window + 2*p.margin
	var oldest time.Duration
	for _, smp := range samples {
		oldest = max(oldest, smp.oldest)
	}
	if oldest > bound {
		t.Errorf("%s: a block's last span was %v old, past retention %v and deletion grace %v", sys.name, oldest, p.blockRetention, p.grace)
	}
	t.Logf("%s: the oldest block's last span was at most %v old (retention %v, grace %v, bound %v)", sys.name, oldest.Round(time.Second), p.blockRetention, p.grace, bound)
	for _, q := range soakQuantities(sys) {
		middle, last := levelOff(samples, p.duration, q.value)
		verdict := "levels off"
		if last > middle*(1+levelOffTolerance) {
			verdict = fmt.Sprintf("GROWS, more than %.0f%%", levelOffTolerance*100)
			t.Fail()
		}
		t.Logf("%s: %s peaks at %s over the middle third of the load, %s over the last third: %s",
			sys.name, q.name, q.format(middle), q.format(last), verdict)
	}

	c.checkAllGone(stopped)
}

// soakQuantity is one quantity a soak expects to level off.
type soakQuantity struct {
	name   string
	value  func(soakSample) float64
	format func(float64) string
}

func soakQuantities(sys *soakSystem) []soakQuantity {
	count := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
	qs := []soakQuantity{
		{"blocks in the bucket", func(s soakSample) float64 { return float64(s.blocks) }, count},
		// Deleted files held open take disk all the same.
		{"bytes in the bucket (and deleted, held open)", func(s soakSample) float64 { return float64(s.bucketBytes + s.held) }, mib},
		{"bytes of the log on disk", func(s soakSample) float64 { return float64(s.logBytes) }, mib},
	}
	for i, p := range sys.procs {
		qs = append(qs, soakQuantity{"RSS of " + p.name, func(s soakSample) float64 { return float64(s.rss[i]) }, mib})
	}
	return qs
}

func mib(v float64) string { return fmt.Sprintf("%.1f MiB", v/(1<<20)) }

// levelOff returns the peaks of value over the middle and the last third
// of the load, of the samples taken while it ran.
func levelOff(samples []soakSample, d time.Duration, value func(soakSample) float64) (middle, last float64) {
	middle, last = math.Inf(-1), math.Inf(-1)
	for _, s := range samples {
		switch {
		case s.at >= d:
		case s.at >= 2*d/3:
			last = max(last, value(s))
		case s.at >= d/3:
			middle = max(middle, value(s))
		}
	}
	return middle, last
}

// soakSegment is one run of the load generator, and what it acked.
type soakSegment struct {
	start, end time.Time
	res        *loadgen.Result
	// expiredChecked is set once its traces were checked gone.
	expiredChecked bool
}

// segmentedLoad runs the load generator back to back, a segment at a time.
type segmentedLoad struct {
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{}

	mu   sync.Mutex
	segs []*soakSegment
	err  error
}

func startSegmentedLoad(t *testing.T, cfg loadgen.Config, every time.Duration) *segmentedLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &segmentedLoad{started: time.Now(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			seg, cancel := context.WithTimeout(ctx, every)
			start := time.Now()
			res, err := loadgen.Run(seg, cfg)
			cancel()
			l.mu.Lock()
			if err != nil {
				l.err = err
				l.mu.Unlock()
				return
			}
			l.segs = append(l.segs, &soakSegment{start: start, end: time.Now(), res: res})
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-l.done
	})
	return l
}

// segments returns the segments that ended so far.
func (l *segmentedLoad) segments() []*soakSegment {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.segs)
}

// stop ends the load, waits for it, and fails the test if a request
// failed: at this rate spanlog must ack every one.
func (l *segmentedLoad) stop(t *testing.T) {
	t.Helper()
	l.cancel()
	<-l.done
	if l.err != nil {
		t.Fatalf("load: %v", l.err)
	}
	var failed int64
	errs := map[string]int64{}
	for _, s := range l.segs {
		failed += s.res.FailedRequests
		for k, v := range s.res.Errors {
			errs[k] += v
		}
	}
	if failed > 0 {
		t.Errorf("load: %d requests failed: %v", failed, errs)
	}
}

// ackedIn returns the spans acked in the segments that keep says.
func ackedIn(segs []*soakSegment, keep func(*soakSegment) bool) (map[trace.TraceID][]trace.SpanID, int64) {
	out := make(map[trace.TraceID][]trace.SpanID)
	var spans int64
	for _, s := range segs {
		if keep(s) {
			maps.Copy(out, s.res.Acked)
			spans += s.res.AckedSpans
		}
	}
	return out, spans
}

// segmentOf returns the segment that acked trace id.
func segmentOf(segs []*soakSegment, id trace.TraceID) *soakSegment {
	for _, s := range segs {
		if _, ok := s.res.Acked[id]; ok {
			return s
		}
	}
	panic("trace " + id.String() + " was not acked")
}

// soakChecker checks the acked traces against a soak's retention.
type soakChecker struct {
	t       *testing.T
	p       soakProfile
	sys     *soakSystem
	load    *segmentedLoad
	sampler *soakSampler
}

// check fetches every acked trace still well within retention, which
// must hold its spans exactly once; and of every segment well past it
// that no check saw past it yet, some traces, which must be 404. Once
// traces are past retention by more than a window, so that every block
// holding them is too, a search over their time finds none.
func (c *soakChecker) check(when string) {
	t := c.t
	t.Helper()
	now := time.Now()
	segs := c.load.segments()
	within, spans := ackedIn(segs, func(s *soakSegment) bool {
		return s.start.After(now.Add(-c.p.blockRetention + c.p.margin))
	})
	// The oldest segments first, so that their traces are fetched before
	// they come near retention. Still, a check of thousands of traces on a
	// loaded machine can take longer than the margin, and the oldest may
	// pass retention while it runs: such a trace may be gone; it may not
	// be partial. Every other must be whole.
	var counts spanCounts
	incomplete := make(map[trace.TraceID]int)
	for _, s := range segs {
		if !s.start.After(now.Add(-c.p.blockRetention + c.p.margin)) {
			continue
		}
		n, inc := checkAckedTraces(t, c.sys.api, s.res.Acked)
		counts.found += n.found
		counts.duplicates += n.duplicates
		counts.missing += n.missing
		maps.Copy(incomplete, inc)
	}
	checked := time.Now()
	var aged, agedSpans int
	for id, found := range incomplete {
		seg := segmentOf(segs, id)
		if seg.start.After(checked.Add(-c.p.blockRetention + c.p.margin)) {
			continue
		}
		if found > 0 {
			t.Errorf("%s %s: trace %s, %v old at the end of the check, past retention, is partial: %d of %d spans",
				c.sys.name, when, id, checked.Sub(seg.start).Round(time.Second), found, len(within[id]))
			continue
		}
		aged++
		agedSpans += len(within[id])
	}
	c.sampler.addChecked(len(within))
	if counts.missing > agedSpans || counts.duplicates > 0 || int64(counts.found+agedSpans) != spans {
		t.Errorf("%s %s: traces within retention: %d spans acked, %d found once, %d twice, %d missing (%d of them in %d traces that passed retention during the %v check)",
			c.sys.name, when, spans, counts.found, counts.duplicates, counts.missing, agedSpans, aged, checked.Sub(now).Round(time.Second))
	}

	var expired, present int
	for _, s := range segs {
		if s.expiredChecked || !s.end.Before(now.Add(-c.p.blockRetention-c.p.margin)) {
			continue
		}
		s.expiredChecked = true
		n := 0
		for id := range s.res.Acked {
			if n++; n > 50 {
				break
			}
			seen, err := fetchSpanIDs(c.sys.api, id.String())
			if err != nil {
				t.Fatal(err)
			}
			expired++
			if len(seen) > 0 {
				present++
			}
		}
	}
	if present > 0 {
		t.Errorf("%s %s: %d of %d traces past retention found", c.sys.name, when, present, expired)
	}

	// A search of a range well past retention reads no block: every
	// block holding a trace that ended in it is past retention too. It
	// still reads the live tail, whatever the range (docs/design.md,
	// Search and tags), so none of its hits may be a trace of the range.
	searched := "-"
	cutoff := now.Add(-c.p.blockRetention - c.p.window - c.p.margin)
	gone, _ := ackedIn(segs, func(s *soakSegment) bool { return s.end.Before(cutoff) })
	if len(gone) > 0 {
		hits := c.search(c.load.started, cutoff, maxSearchLimit)
		found := 0
		for _, h := range hits {
			if _, ok := gone[h]; ok {
				found++
			}
		}
		if found > 0 {
			t.Errorf("%s %s: a search of the %v before %s, past retention, finds %d of its traces",
				c.sys.name, when, cutoff.Sub(c.load.started).Round(time.Second), cutoff.Format(time.TimeOnly), found)
		}
		searched = fmt.Sprintf("%d of %d", found, len(gone))
	} else if hits := c.search(c.load.started, now, 20); len(hits) == 0 {
		t.Errorf("%s %s: a search of the whole load finds nothing", c.sys.name, when)
	}
	row := fmt.Sprintf("%s at %4.0fs (%s): %d traces within retention checked in %v (%d spans: %d once, %d twice, %d missing, %d traces gone as they passed retention during the check), %d past it 404 of %d, traces past it found by search %s, %v compactions so far",
		c.sys.name, now.Sub(c.load.started).Seconds(), when, len(within), checked.Sub(now).Round(time.Second), spans, counts.found, counts.duplicates, counts.missing, aged,
		expired-present, expired, searched, metric(t, c.sys.ops, "spanlog_compactor_compactions_total"))
	t.Log(row)
}

// maxSearchLimit is the largest limit a search takes: enough for every
// trace a short soak keeps.
const maxSearchLimit = 10_000

// search returns the IDs of the traces a search over [from, to] finds.
func (c *soakChecker) search(from, to time.Time, limit int) []trace.TraceID {
	var res struct {
		Traces []struct {
			TraceID string `json:"traceID"`
		} `json:"traces"`
	}
	getJSON(c.t, c.sys.api, "/api/search?"+url.Values{
		"limit": {strconv.Itoa(limit)},
		"start": {strconv.FormatInt(from.Unix(), 10)},
		"end":   {strconv.FormatInt(to.Unix(), 10)},
	}.Encode(), &res)
	ids := make([]trace.TraceID, len(res.Traces))
	for i, tr := range res.Traces {
		// Tempo's search drops an ID's leading zeros.
		id, err := trace.TraceIDFromHex(fmt.Sprintf("%032s", tr.TraceID))
		if err != nil {
			c.t.Fatalf("search hit %q: %v", tr.TraceID, err)
		}
		ids[i] = id
	}
	return ids
}

// report logs every sample and every check, for docs/benchmarks.md.
func (c *soakChecker) report() {
	var b strings.Builder
	fmt.Fprintf(&b, "%s samples:\n%6s %7s %5s %7s %11s %11s %11s %9s", c.sys.name, "t", "blocks", "read", "oldest", "bucket", "held", "log", "log recs")
	for _, p := range c.sys.procs {
		fmt.Fprintf(&b, " %13s", "rss "+p.name)
	}
	fmt.Fprintf(&b, " %11s %8s\n", "compactions", "checked")
	for _, s := range c.sampler.samples() {
		fmt.Fprintf(&b, "%5.0fs %7d %5d %6.0fs %11s %11s %11s %9d", s.at.Seconds(), s.blocks, s.blocksRead, s.oldest.Seconds(),
			mib(float64(s.bucketBytes)), mib(float64(s.held)), mib(float64(s.logBytes)), s.logRecords)
		for _, r := range s.rss {
			fmt.Fprintf(&b, " %13s", mib(float64(r)))
		}
		fmt.Fprintf(&b, " %11.0f %8d\n", s.compactions, s.checked)
	}
	c.t.Log(b.String())
}

// waitCommitted waits until the block-builders committed the end of the
// log: every acked span is in a block.
func (c *soakChecker) waitCommitted() {
	c.t.Helper()
	waitFor(c.t, 2*time.Minute, c.sys.name+": block-builders to commit the end of the log", func() bool {
		end := metric(c.t, c.sys.ops, "spanlog_log_end_offset")
		return end > 0 && metric(c.t, c.sys.ops, "spanlog_log_committed_offset") == end
	})
}

// waitWindowsMerged waits until every window that ended before stopped
// holds one block per partition that readers read.
func (c *soakChecker) waitWindowsMerged(stopped time.Time) {
	c.t.Helper()
	var last string
	waitForWhat(c.t, 2*time.Minute, func() bool {
		bl, err := c.poll()
		if err != nil {
			last = err.Error()
			return false
		}
		per := map[[2]int64]int{}
		for _, m := range bl.Metas(soakTenant) {
			w := m.MaxEnd.Truncate(c.p.window)
			if w.Add(c.p.window).After(stopped) {
				continue
			}
			per[[2]int64{int64(m.KafkaRanges[0].Partition), w.UnixNano()}]++
		}
		unmerged := 0
		for _, n := range per {
			if n > 1 {
				unmerged++
			}
		}
		last = fmt.Sprintf("%d windows of a partition not merged into one block, of %d", unmerged, len(per))
		return unmerged == 0
	}, func() string { return c.sys.name + ": every window over merged: " + last })
}

// poll returns a blocklist of the bucket as it is now, which leaves out
// of Metas what is superseded or past retention, as readers do.
func (c *soakChecker) poll() (*blocklist.Blocklist, error) {
	return pollBucket(c.t.Context(), c.sys.bucket, c.p.blockRetention)
}

func pollBucket(ctx context.Context, bkt objstore.Bucket, retention time.Duration) (*blocklist.Blocklist, error) {
	bl, err := blocklist.New(blocklist.DefaultConfig(), bkt, blocklist.Options{Retention: func(string) time.Duration { return retention }},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	return bl, bl.Poll(ctx, nil)
}

// checkAllGone waits, after the load, until retention has emptied the
// bucket of blocks and the log of records, then checks that no acked
// trace is found, by ID or by search.
func (c *soakChecker) checkAllGone(stopped time.Time) {
	t := c.t
	t.Helper()
	// A block's last span ends before the load stopped; it is past
	// retention then, and deleted a grace later, by a compaction cycle.
	timeout := time.Until(stopped.Add(c.p.blockRetention + c.p.grace + c.p.window + time.Minute))
	var blocks []*schema.BlockMeta
	waitForWhat(t, timeout, func() bool {
		bl, err := c.poll()
		if err != nil {
			return false
		}
		blocks = bl.Known(soakTenant)
		return len(blocks) == 0
	}, func() string {
		return fmt.Sprintf("%s: retention to delete every block: %d left", c.sys.name, len(blocks))
	})
	waitLogTrimmed(t, c.sys.ops, stopped, time.Until(stopped.Add(c.p.logRetention+time.Minute)))
	bucket, err := c.sys.bucketBytes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	logBytes, err := dirSize(c.sys.logDir)
	if err != nil {
		t.Fatal(err)
	}

	all, spans := ackedIn(c.load.segments(), func(*soakSegment) bool { return true })
	counts := checkAcked(t, c.sys.api, all)
	if counts.found > 0 || counts.duplicates > 0 {
		t.Errorf("%s: past retention, %d of %d acked spans are still found", c.sys.name, counts.found, spans)
	}
	if hits := c.search(c.load.started.Add(-time.Minute), time.Now(), maxSearchLimit); len(hits) > 0 {
		t.Errorf("%s: past retention, a search finds %d traces", c.sys.name, len(hits))
	}
	t.Logf("%s: %v after the load stopped, past retention: no block left (%s in the bucket), the log trimmed to its last records (%s on disk), none of %d traces (%d spans) found",
		c.sys.name, time.Since(stopped).Round(time.Second), mib(float64(bucket)), mib(float64(logBytes)), len(all), spans)
}

// soakSample is the size of the system at one time.
type soakSample struct {
	at time.Duration // since the load started
	// blocks are the blocks in the bucket (with a meta), blocksRead
	// those readers read: not superseded, not past retention.
	blocks, blocksRead int
	// oldest is the age of the oldest block's last span.
	oldest                time.Duration
	bucketBytes, logBytes int64
	// logRecords are the records between the log's start and end.
	logRecords int64
	rss        []int64 // per process of the system
	// held are the bytes of deleted files the processes still hold
	// open: disk the bucket's size does not show, freed only once they
	// are closed.
	held        int64
	compactions float64
	// checked counts the traces the checks found exactly once so far.
	checked int
}

// soakSampler samples a system in the background.
type soakSampler struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	list    []soakSample
	checked int
	err     error
}

func startSampler(t *testing.T, p soakProfile, sys *soakSystem, started time.Time) *soakSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &soakSampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(p.sampleEvery)
		defer tick.Stop()
		for {
			smp, err := sample(ctx, p, sys, started)
			s.mu.Lock()
			smp.checked = s.checked
			if err != nil && ctx.Err() == nil && s.err == nil {
				s.err = err
			}
			if err == nil {
				s.list = append(s.list, smp)
			}
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *soakSampler) stop() {
	s.cancel()
	<-s.done
}

func (s *soakSampler) addChecked(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checked += n
}

func (s *soakSampler) samples() []soakSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.list)
}

// sample measures sys now.
func sample(ctx context.Context, p soakProfile, sys *soakSystem, started time.Time) (soakSample, error) {
	s := soakSample{at: time.Since(started)}
	bl, err := pollBucket(ctx, sys.bucket, p.blockRetention)
	if err != nil {
		return s, fmt.Errorf("poll the bucket: %w", err)
	}
	known := bl.Known(soakTenant)
	s.blocks, s.blocksRead = len(known), len(bl.Metas(soakTenant))
	for _, m := range known {
		s.oldest = max(s.oldest, time.Since(m.MaxEnd))
	}
	if s.bucketBytes, err = sys.bucketBytes(ctx); err != nil {
		return s, fmt.Errorf("bucket size: %w", err)
	}
	if s.logBytes, err = dirSize(sys.logDir); err != nil {
		return s, fmt.Errorf("log size: %w", err)
	}
	start, err := scrape(sys.ops, "spanlog_log_start_offset")
	if err != nil {
		return s, err
	}
	end, err := scrape(sys.ops, "spanlog_log_end_offset")
	if err != nil {
		return s, err
	}
	s.logRecords = int64(end - start)
	if s.compactions, err = scrape(sys.ops, "spanlog_compactor_compactions_total"); err != nil {
		return s, err
	}
	for _, p := range sys.procs {
		r, err := rss(p.cmd.Process.Pid)
		if err != nil {
			return s, fmt.Errorf("%s: %w", p.name, err)
		}
		s.rss = append(s.rss, r)
		h, err := heldDeleted(p.cmd.Process.Pid)
		if err != nil {
			return s, fmt.Errorf("%s: %w", p.name, err)
		}
		s.held += h
	}
	return s, nil
}

// heldDeleted returns the size of the deleted files process pid holds
// open.
func heldDeleted(pid int) (int64, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, fd := range fds {
		// An fd closed meanwhile counts for nothing.
		target, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err != nil || !strings.HasSuffix(target, " (deleted)") {
			continue
		}
		if info, err := os.Stat(filepath.Join(dir, fd.Name())); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
	}
	return n, nil
}

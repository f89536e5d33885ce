package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/internal/loadgen"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/tracelog"
)

// faultDuration is how long load runs in TestFaultInjection: short in make
// test, longer on demand (SPANLOG_FAULT_DURATION=3m).
func faultDuration(t *testing.T) time.Duration {
	if v := os.Getenv("SPANLOG_FAULT_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SPANLOG_FAULT_DURATION: %v", err)
		}
		return d
	}
	return 40 * time.Second
}

// TestFaultInjection runs spanlog as separate processes (a distributor, two
// block-builders, a querier, a compactor) on Kafka and MinIO under
// continuous OTLP load, and meanwhile kills block-builders with SIGKILL
// (right after they upload a block, before they commit), stops MinIO for
// over 20 seconds, and kills the querier. Every span that got an OK must
// then be returned by trace-by-ID exactly once.
func TestFaultInjection(t *testing.T) {
	duration := faultDuration(t)
	minio := miniotest.Start(t)
	s3 := minio.NewBucket(t)
	c := newCluster(t, append(s3Flags(s3),
		"-storage.s3.request-timeout=3s",
		"-storage.s3.max-retries=2",
		"-block-builder.retry-backoff=200ms",
		"-block-builder.retry-max-backoff=2s",
		"-block-builder.session-timeout=6s",
		"-block-builder.lag-interval=1s",
	)...)
	_, otlp := c.startDistributor(t)
	builders := []*process{
		c.start(t, "block-builder-1", "block-builder"),
		c.start(t, "block-builder-2", "block-builder"),
	}
	querier := c.start(t, "querier", "querier")
	c.start(t, "compactor", "compactor")

	cfg := loadgen.DefaultConfig()
	cfg.Endpoint = otlp
	cfg.Rate = 60
	cfg.SpansPerTrace = 5
	cfg.BatchTraces = 4
	cfg.Workers = 4
	cfg.RequestTimeout = 10 * time.Second
	load := startLoad(t, cfg, duration)

	// The faults, spread over the run.
	start := time.Now()
	at := func(frac float64) {
		time.Sleep(time.Until(start.Add(time.Duration(frac * float64(duration)))))
	}
	killBuilder := func(i int) {
		b := builders[i]
		killAfterBlockUpload(t, b)
		time.Sleep(rand.N(time.Second))
		builders[i] = b.restart(t)
	}
	at(0.10)
	killBuilder(0)
	at(0.20)
	querier.kill()
	querier = querier.restart(t)
	at(0.25)
	killBuilder(1)

	at(0.30)
	outage := max(21*time.Second, duration/4)
	t.Logf("stopping MinIO for %v", outage)
	minio.Stop()
	time.Sleep(outage / 2)
	// The outage shows as block-builder lag, in records and in age, on
	// whichever builders own partitions now.
	var lagSeconds, lagRecords float64
	for _, b := range builders {
		lagSeconds = max(lagSeconds, metric(t, b.http, "spanlog_block_builder_lag_seconds"))
		lagRecords += metric(t, b.http, "spanlog_block_builder_lag_records")
	}
	if lagSeconds < 5 || lagRecords <= 0 {
		t.Errorf("builder lag %.1fs into the outage: oldest %.1fs, %v records", (outage / 2).Seconds(), lagSeconds, lagRecords)
	}
	builders[0].kill() // dies mid-retry, with blocks unwritten
	// Restarted during the outage, it waits in its storage check, and
	// starts once S3 answers (or without it, past the check's timeout).
	restarted := launchProcess(t, builders[0].name, builders[0].http, builders[0].args)
	waitFor(t, 30*time.Second, "the restarted builder to wait for S3", func() bool {
		return strings.Contains(restarted.log.String(), "waiting for S3 to answer the startup check")
	})
	time.Sleep(outage / 2)
	minio.Restart(t)
	t.Log("MinIO back")
	restarted.waitReady(t)
	builders[0] = restarted

	killBuilder(1)
	querier.kill()
	querier = querier.restart(t)
	killBuilder(0)

	// Kafka was up throughout: no fault behind it may cost a client an OK.
	res := load.wait(t)

	drainStart := time.Now()
	waitDrained(t, c)
	t.Logf("drained %v after the load stopped", time.Since(drainStart))
	counts := checkAcked(t, querier.http, res.Acked)
	report := fmt.Sprintf("fault injection over %v: acked=%d (in %d requests) failed=%d requests found=%d duplicates=%d missing=%d",
		duration, res.AckedSpans, res.AckedRequests, res.FailedRequests, counts.found, counts.duplicates, counts.missing)
	fmt.Println(report)
	t.Log(report)
	if counts.missing > 0 || counts.duplicates > 0 || counts.found != int(res.AckedSpans) {
		t.Fatalf("acked spans lost or duplicated: %s", report)
	}

	checkIndexCurrent(t, c, s3)

	// The same answer after the querier restarts from the index.
	querier.kill()
	querier = querier.restart(t)
	if again := checkAcked(t, querier.http, res.Acked); again != counts {
		t.Fatalf("after a querier restart: %+v, before: %+v", again, counts)
	}
}

// killAfterBlockUpload kills a block-builder with SIGKILL as soon as it
// logs an uploaded block, before it can commit the offsets behind it; if
// it uploads nothing within a few seconds, it is killed anyway.
func killAfterBlockUpload(t *testing.T, p *process) {
	t.Helper()
	before := strings.Count(p.log.String(), "block written")
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(p.log.String(), "block written") == before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	p.kill()
}

// waitDrained waits until the block-builders committed the end of every
// partition: everything acked is in blocks.
func waitDrained(t *testing.T, c *cluster) {
	t.Helper()
	waitCommittedEnd(t, c, "spanlog-block-builder", 3*time.Minute)
}

// waitCommittedEnd waits until group committed the end of every partition,
// the ends read again at each look.
func waitCommittedEnd(t *testing.T, c *cluster, group string, timeout time.Duration) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := t.Context()
	waitFor(t, timeout, group+" to commit the end of the log", func() bool {
		ends, err := tracelog.EndOffsets(ctx, cl, "spanlog-traces")
		if err != nil {
			return false
		}
		committed, err := tracelog.CommittedOffsets(ctx, cl, group, "spanlog-traces")
		if err != nil {
			return false
		}
		for p, end := range ends {
			if committed[p] < end {
				return false
			}
		}
		return true
	})
}

type spanCounts struct{ found, duplicates, missing int }

// checkAcked fetches every acked trace and counts the acked spans found
// once, the spans returned more than once, and the acked spans missing.
func checkAcked(t *testing.T, addr string, acked map[trace.TraceID][]trace.SpanID) spanCounts {
	t.Helper()
	counts, _ := checkAckedTraces(t, addr, acked)
	return counts
}

// checkAckedTraces is checkAcked, and returns the traces with an acked
// span missing too, with how many of their acked spans were found.
func checkAckedTraces(t *testing.T, addr string, acked map[trace.TraceID][]trace.SpanID) (counts spanCounts, incomplete map[trace.TraceID]int) {
	t.Helper()
	ids := make(chan trace.TraceID)
	incomplete = make(map[trace.TraceID]int)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for id := range ids {
				seen, err := fetchSpanIDs(addr, id.String())
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				for _, n := range seen {
					if n > 1 {
						counts.duplicates++
					}
				}
				found := 0
				for _, sid := range acked[id] {
					if seen[sid.String()] == 0 {
						counts.missing++
					} else {
						counts.found++
						found++
					}
				}
				if found < len(acked[id]) {
					incomplete[id] = found
				}
				mu.Unlock()
			}
		})
	}
	for id := range acked {
		ids <- id
	}
	close(ids)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d trace fetches failed, first: %v", len(errs), errs[0])
	}
	return counts, incomplete
}

// fetchSpanIDs returns how often each span ID is in the trace, retrying a
// few times on server errors; a 404 is an empty trace.
func fetchSpanIDs(addr, id string) (map[string]int, error) {
	var lastErr error
	for range 5 {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v2/traces/"+id, nil)
		req.Header.Set("Accept", "application/protobuf")
		status, body, err := do(req)
		switch {
		case err != nil:
			lastErr = err
		case status == http.StatusNotFound:
			return map[string]int{}, nil
		case status != http.StatusOK:
			lastErr = fmt.Errorf("trace %s: status %d: %s", id, status, body)
		default:
			td, err := decodeTraceByIDResponse(body)
			if err != nil {
				return nil, err
			}
			seen := map[string]int{}
			for _, v := range viewsReceived(td) {
				seen[v.SpanID]++
			}
			return seen, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil, lastErr
}

// checkIndexCurrent waits until the compactor's index of the tenant lists
// every block readers read (not those a compaction merged into another)
// and is complete up to the end of the log.
func checkIndexCurrent(t *testing.T, c *cluster, s3 objstore.S3Config) {
	t.Helper()
	ctx := context.Background()
	bkt, err := objstore.NewS3(s3, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := tracelog.EndOffsets(ctx, cl, "spanlog-traces")
	if err != nil {
		t.Fatal(err)
	}
	const tenant = "single-tenant"
	var last string
	waitFor(t, 30*time.Second, "a current tenant index", func() bool {
		x, err := block.ReadIndex(ctx, bkt, tenant)
		if err != nil {
			last = err.Error()
			return false
		}
		read, _ := blocksOf(t, bkt, tenant)
		indexed := make([]string, len(x.Metas))
		for i, m := range x.Metas {
			indexed[i] = m.BlockID.String()
		}
		listed := make([]string, len(read))
		for i, m := range read {
			listed[i] = m.BlockID.String()
		}
		slices.Sort(indexed)
		slices.Sort(listed)
		last = fmt.Sprintf("index of %d blocks, %d read from a listing, committed %v, log ends %v", len(x.Metas), len(read), x.Committed, ends)
		return x.Covers(ends) && slices.Equal(indexed, listed)
	})
	t.Log(last)
}

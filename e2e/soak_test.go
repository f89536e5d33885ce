package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/internal/loadgen"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
)

// soakProfile is a soak's load and the durations it compresses days
// into: blocks kept seconds instead of 14 days, the log a minute instead
// of a day.
type soakProfile struct {
	// duration is how long the load runs; the first third is warm-up,
	// and the middle and last thirds are compared.
	duration time.Duration
	// rate is the load in traces per second, of 10 spans each.
	rate float64
	// segment is how long each run of the load generator lasts: the load
	// runs as back-to-back runs, so that what was acked is known while it
	// goes on, and when.
	segment time.Duration
	// sampleEvery and checkEvery space the samples of the system's size
	// and the checks of the acked traces.
	sampleEvery, checkEvery time.Duration
	// blockRetention, window and grace are the compactor's; logRetention
	// and segmentBytes the log's. The checks derive from them.
	blockRetention, window, grace, logRetention time.Duration
	segmentBytes                                int64
	// margin keeps the traces checked this far from the retention's edge,
	// on either side: a check takes time.
	margin time.Duration
	// flags set the above, and what they need to pass validation.
	flags []string
	// processes runs the multi-process form on MinIO too, beside the
	// single process.
	processes bool
}

// levelOffTolerance is how much higher a quantity may peak in the last
// third of the load than in the middle third. Unbounded growth at a
// steady rate peaks half again as high (at 3/3 against 2/3 of the run);
// a quantity that levels off peaks about as high in both, give or take a
// compaction, a segment of the log or a garbage collection caught at its
// height in one third and not the other.
const levelOffTolerance = 0.25

// shortSoak fits in make test: one process, a minute of load, blocks kept
// ten seconds.
func shortSoak() soakProfile {
	const segmentBytes = 128 << 10
	return soakProfile{
		duration:       60 * time.Second,
		rate:           50,
		segment:        2 * time.Second,
		sampleEvery:    time.Second,
		checkEvery:     12 * time.Second,
		blockRetention: 10 * time.Second,
		window:         2 * time.Second,
		grace:          7 * time.Second,
		logRetention:   8 * time.Second,
		segmentBytes:   segmentBytes,
		margin:         3 * time.Second,
		flags: []string{
			"-block-builder.cycle-duration=1s",
			"-compactor.compaction-interval=1s",
			"-compactor.compaction-window=2s",
			"-compactor.max-input-blocks=4",
			"-compactor.block-retention=10s",
			// More than the pollers' intervals and the query timeout.
			"-compactor.deletion-grace=7s",
			"-compactor.session-timeout=6s",
			"-querier.query-timeout=5s",
			"-querier.storage-timeout=2s",
			"-kafka.log-retention=8s",
			"-kafka.log-trim-interval=1s",
			// Segments that fill in seconds, so that trimming frees them
			// within a third of the run; no record may be larger.
			"-embedded-kafka.segment-bytes=" + strconv.Itoa(segmentBytes),
			"-embedded-kafka.max-message-bytes=" + strconv.Itoa(segmentBytes),
			"-distributor.max-record-bytes=" + strconv.Itoa(segmentBytes),
		},
	}
}

// longSoak is make soak's: the durations the issue names (blocks kept
// 90s, windows of 10s, the log kept a minute), for d, in one process and
// as one process per role on MinIO.
func longSoak(d time.Duration) soakProfile {
	const segmentBytes = 1<<20 + 12 // the broker's message.max.bytes
	return soakProfile{
		duration:       d,
		rate:           50,
		segment:        5 * time.Second,
		sampleEvery:    5 * time.Second,
		checkEvery:     time.Minute,
		blockRetention: 90 * time.Second,
		window:         10 * time.Second,
		grace:          12 * time.Second,
		logRetention:   time.Minute,
		segmentBytes:   segmentBytes,
		margin:         10 * time.Second,
		flags: []string{
			"-block-builder.cycle-duration=1s",
			"-compactor.compaction-interval=2s",
			"-compactor.compaction-window=10s",
			"-compactor.block-retention=90s",
			"-compactor.deletion-grace=12s",
			"-compactor.session-timeout=6s",
			"-querier.query-timeout=10s",
			"-kafka.log-retention=60s",
			"-kafka.log-trim-interval=5s",
			"-embedded-kafka.segment-bytes=" + strconv.Itoa(segmentBytes),
		},
		processes: true,
	}
}

// TestSoak runs spanlog under steady OTLP load with days compressed into
// seconds and checks that it runs in bounded cost: the blocks, the bytes
// in the bucket and in the log, and each process's RSS level off; every
// acked trace still within retention is found exactly once, before,
// during and after compactions; and traces past retention are gone (404,
// not in search, and at the end not in the bucket either).
//
// In make test it runs a minute, in one process. make soak runs it for
// SPANLOG_SOAK_DURATION (10m) with the durations, in one process
// and, at the same time, as one process per role on MinIO.
// SPANLOG_SOAK_FLAGS adds flags to every process, last, to see what a
// setting does; with retention or compaction off, the soak fails.
func TestSoak(t *testing.T) {
	p := shortSoak()
	if v := os.Getenv("SPANLOG_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SPANLOG_SOAK_DURATION: %v", err)
		}
		p = longSoak(d)
	}
	if v := os.Getenv("SPANLOG_SOAK_FLAGS"); v != "" {
		p.flags = append(p.flags, strings.Fields(v)...)
	}
	t.Run("all", func(t *testing.T) {
		if p.processes {
			t.Parallel()
		}
		soakAll(t, p)
	})
	if p.processes {
		t.Run("processes-on-minio", func(t *testing.T) {
			t.Parallel()
			soakProcesses(t, p)
		})
	}
}

// soakAll runs the soak on -target=all with the embedded Kafka and its
// data directory, as make run does.
func soakAll(t *testing.T, p soakProfile) {
	n := newNode(t, p.flags...)
	proc := n.start(t)
	blocks := filepath.Join(n.DataDir, "blocks")
	bkt, err := objstore.NewDir(blocks)
	if err != nil {
		t.Fatal(err)
	}
	runSoak(t, p, &soakSystem{
		name:   "all",
		otlp:   n.OTLPGRPC,
		api:    n.HTTP,
		ops:    n.HTTP,
		procs:  []*process{proc},
		bucket: bkt,
		bucketBytes: func(context.Context) (int64, error) {
			return dirSize(blocks)
		},
		logDir: filepath.Join(n.DataDir, "kafka"),
	})
}

// soakProcesses runs the soak on one process per role, on MinIO, around a
// Kafka with a data directory of its own whose segments are as small as
// the embedded one's.
func soakProcesses(t *testing.T, p soakProfile) {
	logDir := t.TempDir()
	k := kafkatest.New(t, kfake.DataDir(logDir),
		kfake.BrokerConfigs(map[string]string{"log.segment.bytes": strconv.FormatInt(p.segmentBytes, 10)}))
	s3 := miniotest.Start(t).NewBucket(t)
	c := newClusterOn(k, append(s3Flags(s3), p.flags...)...)
	dist, otlp := c.startDistributor(t)
	builder := c.start(t, "block-builder", "block-builder")
	querier := c.start(t, "querier", "querier")
	compactor := c.start(t, "compactor", "compactor")
	bkt, err := objstore.NewS3(s3, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKeyID, s3.SecretAccessKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	runSoak(t, p, &soakSystem{
		name:   "processes",
		otlp:   otlp,
		api:    querier.http,
		ops:    compactor.http,
		procs:  []*process{dist, builder, querier, compactor},
		bucket: bkt,
		bucketBytes: func(ctx context.Context) (int64, error) {
			var n int64
			for o := range mc.ListObjects(ctx, s3.Bucket, minio.ListObjectsOptions{Recursive: true}) {
				if o.Err != nil {
					return 0, o.Err
				}
				n += o.Size
			}
			return n, nil
		},
		logDir: logDir,
	})
}

// soakLoad is the load of every soak: the generator's default traces, at
// the profile's rate.
func soakLoad(p soakProfile, otlp string) loadgen.Config {
	cfg := loadgen.DefaultConfig()
	cfg.Endpoint = otlp
	cfg.Rate = p.rate
	// Long enough that a request slowed by a loaded machine is not
	// counted failed: a failure here is spanlog's.
	cfg.RequestTimeout = 15 * time.Second
	return cfg
}

// dirSize is the size of the files under dir; files deleted while it
// walks count for nothing.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// rss returns the resident set of process pid now (Linux's VmRSS).
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if kb, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 10, 64)
			return n << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

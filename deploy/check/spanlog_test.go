package check

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
)

// The tenants the exercise sends as: one within its limits, and one whose
// every request is over its burst, so that rejections are counted.
const (
	tenant        = "team-a"
	limitedTenant = "limited"
)

// cluster is spanlog as the exercise runs it: every role in one process
// on MinIO, and a second querier, so that queriers ask each other for
// their live tails.
type cluster struct {
	all, querier *spanlogProcess
	otlpGRPC     string
}

// startCluster starts MinIO and the two spanlog processes, with cycles
// short enough that blocks, compactions, indexes and trims of the log
// happen within seconds.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	bin := buildSpanlog(t)
	if os.Getenv("SPANLOG_MINIO") == "" {
		t.Setenv("SPANLOG_MINIO", repoPath(t, "bin", "minio"))
	}
	s3 := miniotest.Start(t).NewBucket(t)
	dir := t.TempDir()
	overrides := filepath.Join(dir, "overrides.yaml")
	if err := os.WriteFile(overrides, []byte("overrides:\n  "+limitedTenant+":\n    ingestion-burst-bytes: 100\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := append(s3Flags(s3),
		"-tenants.multitenancy-enabled=true",
		"-server.http-listen-address=127.0.0.1:0",
		"-server.internal-listen-address=127.0.0.1:0",
		"-server.graceful-shutdown-timeout=10s",
		"-querier.blocklist.poll-interval=300ms",
		"-querier.query-timeout=10s",
		"-querier.session-timeout=6s",
	)
	c := &cluster{}
	c.all = startSpanlog(t, bin, "spanlog all", append(common,
		"-target=all",
		"-embedded-kafka.port=0",
		"-embedded-kafka.data-dir="+filepath.Join(dir, "kafka"),
		"-distributor.grpc-listen-address=127.0.0.1:0",
		"-distributor.http-listen-address=127.0.0.1:0",
		"-limits.overrides-file="+overrides,
		"-kafka.partitions=4",
		"-block-builder.cycle-duration=1s",
		"-block-builder.idle-cut-delay=500ms",
		"-compactor.blocklist.poll-interval=500ms",
		"-compactor.compaction-interval=1s",
		// Two blocks of a partition's window are enough to merge.
		"-compactor.max-input-blocks=2",
		"-compactor.deletion-grace=15s",
		"-kafka.log-retention=1s",
		"-kafka.log-trim-interval=1s",
	)...)
	c.otlpGRPC = c.all.await(t, regexp.MustCompile(`msg="distributor serving OTLP".* grpc=(\S+)`))
	kafka := c.all.await(t, regexp.MustCompile(`msg="embedded kafka started" addrs=\[([^\] ]+)\]`))
	c.querier = startSpanlog(t, bin, "spanlog querier", append(common,
		"-target=querier",
		"-kafka.brokers="+kafka,
	)...)
	return c
}

func s3Flags(cfg objstore.S3Config) []string {
	return []string{
		"-storage.backend=s3",
		"-storage.s3.endpoint=" + cfg.Endpoint,
		"-storage.s3.bucket=" + cfg.Bucket,
		"-storage.s3.region=" + cfg.Region,
		"-storage.s3.access-key-id=" + cfg.AccessKeyID,
		"-storage.s3.secret-access-key=" + cfg.SecretAccessKey,
		fmt.Sprintf("-storage.s3.insecure=%t", cfg.Insecure),
		fmt.Sprintf("-storage.s3.path-style=%t", cfg.PathStyle),
	}
}

// buildSpanlog builds the repository's spanlog into a temporary directory.
func buildSpanlog(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "spanlog")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/spanlog")
	cmd.Dir = repoPath(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build spanlog: %v\n%s", err, out)
	}
	return bin
}

// spanlogProcess is a running spanlog and what it logs.
type spanlogProcess struct {
	name string
	http string // its HTTP server
	log  logtest.Buffer
	done chan struct{}
	err  error
}

// startSpanlog runs bin with args and waits until it is ready. It is
// killed when the test ends.
func startSpanlog(t *testing.T, bin, name string, args ...string) *spanlogProcess {
	t.Helper()
	p := &spanlogProcess{name: name, done: make(chan struct{})}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &p.log, &p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.log.String())
		}
	})
	p.http = p.await(t, regexp.MustCompile(`msg="spanlog started".* http=(\S+)`))
	waitFor(t, name+" ready", func() (bool, string) {
		status, _, err := get(p.http, "/ready", "")
		return status == http.StatusOK, fmt.Sprint(status, err)
	})
	return p
}

// await waits until the process logs a line matching re, and returns the
// first submatch.
func (p *spanlogProcess) await(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	var m []string
	waitFor(t, fmt.Sprintf("%s to log %s", p.name, re), func() (bool, string) {
		select {
		case <-p.done:
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, p.log.String())
		default:
		}
		m = re.FindStringSubmatch(p.log.String())
		return m != nil, ""
	})
	return m[1]
}

// waitFor polls cond until it holds, for up to a minute and a half: the
// time a compaction and a trim of the log take on a loaded machine, with
// room to spare. cond's string says what it saw, for the failure.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	var saw string
	if !poll(90*time.Second, func() (ok bool) { ok, saw = cond(); return ok }) {
		t.Fatalf("timed out waiting for %s; last saw: %s", what, saw)
	}
}

// poll calls cond until it holds, for up to timeout, and reports whether
// it did.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// get fetches path from addr as tenant (none if empty).
func get(addr, path, tenant string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// mustGet fetches path and fails the test unless it is 200.
func mustGet(t *testing.T, addr, path, tenant string) []byte {
	t.Helper()
	status, body, err := get(addr, path, tenant)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET %s%s: %d %v: %s", addr, path, status, err, body)
	}
	return body
}

// sendTraces sends traces of tenant with telemetrygen (make installs it
// into bin/), with extra flags.
func sendTraces(t *testing.T, otlpGRPC, tenant string, traces int, extra ...string) error {
	t.Helper()
	bin := repoPath(t, "bin", "telemetrygen")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("telemetrygen: %v: run make bin/telemetrygen (make test does)", err)
	}
	args := append([]string{"traces",
		"--otlp-endpoint", otlpGRPC, "--otlp-insecure",
		"--otlp-header", fmt.Sprintf("X-Scope-OrgID=%q", tenant),
		"--traces", fmt.Sprint(traces), "--rate", "100",
	}, extra...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("telemetrygen: %w\n%s", err, out)
	}
	return nil
}

// traceIDs are the IDs of the traces a search of tenant finds.
func traceIDs(t *testing.T, addr, tenant string) []string {
	t.Helper()
	body := mustGet(t, addr, "/api/search?limit=50&q="+url.QueryEscape("{ }"), tenant)
	ids := regexp.MustCompile(`"traceID":"([0-9a-f]+)"`).FindAllSubmatch(body, -1)
	var out []string
	for _, id := range ids {
		out = append(out, string(id[1]))
	}
	if len(out) == 0 {
		t.Fatal(errors.New("search found no trace: " + string(body)))
	}
	return out
}

// exercise makes the cluster do every kind of work once: write spans,
// reject some, truncate attributes, cut blocks in two cycles (which the
// compactor merges), serve every query route from both queriers, which
// ask each other for their live tails.
func (c *cluster) exercise(t *testing.T) {
	t.Helper()
	// Each querier holds some partitions before the traces come, so
	// that lookups cross to the other's.
	for _, p := range []*spanlogProcess{c.all, c.querier} {
		waitFor(t, p.name+" to own live-tail partitions", func() (bool, string) {
			v := sampleSum(t, p.http, "spanlog_querier_live_partitions")
			return v > 0 && v < 4, fmt.Sprint(v)
		})
	}
	longValue := strings.Repeat("x", 3000) // over the default max-attribute-bytes
	// Rounds of spans, each in blocks before the next is sent, make two
	// blocks of each partition in one compaction window, which the
	// compactor merges (max-input-blocks 2). When a window ends between
	// two rounds, each window holds one: a third round joins the second.
	for round := 0; ; round++ {
		if err := sendTraces(t, c.otlpGRPC, tenant, 40, "--telemetry-attributes", fmt.Sprintf("long=%q", longValue)); err != nil {
			t.Fatal(err)
		}
		// (Offsets count from 0, and only the distributor writes.)
		waitFor(t, fmt.Sprintf("the blocks of round %d", round), func() (bool, string) {
			written := sampleSum(t, c.all.http, "spanlog_distributor_records_written_total")
			committed := sampleSum(t, c.all.http, "spanlog_log_committed_offset")
			return written > 0 && committed >= written, fmt.Sprintf("%v records written, %v committed", written, committed)
		})
		if round == 0 {
			continue
		}
		compacted := poll(15*time.Second, func() bool {
			return sampleSum(t, c.all.http, "spanlog_compactor_compactions_total") > 0
		})
		if compacted || round == 2 {
			break
		}
	}
	// Over the tenant's burst, refused with 413; telemetrygen logs that
	// and may exit 0 or not: the count of rejections is what tells.
	_ = sendTraces(t, c.otlpGRPC, limitedTenant, 1)
	waitFor(t, "spans of "+limitedTenant+" rejected", func() (bool, string) {
		v := sampleSum(t, c.all.http, "spanlog_distributor_spans_rejected_total")
		return v > 0, fmt.Sprint(v)
	})

	ids := traceIDs(t, c.all.http, tenant)
	for _, p := range []*spanlogProcess{c.all, c.querier} {
		for _, id := range ids {
			mustGet(t, p.http, "/api/traces/"+id, tenant)
			mustGet(t, p.http, "/api/v2/traces/"+id, tenant)
		}
		mustGet(t, p.http, "/api/batch/traces?ids="+strings.Join(ids, ","), tenant)
		mustGet(t, p.http, "/api/search?q="+url.QueryEscape(`{ resource.service.name = "telemetrygen" }`), tenant)
		mustGet(t, p.http, "/api/search/tags", tenant)
		mustGet(t, p.http, "/api/v2/search/tags", tenant)
		mustGet(t, p.http, "/api/search/tag/service.name/values", tenant)
		mustGet(t, p.http, "/api/v2/search/tag/resource.service.name/values", tenant)
		mustGet(t, p.http, "/api/metrics/query_range?q="+url.QueryEscape("{ } | rate()"), tenant)
	}
}

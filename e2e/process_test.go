// Package e2e tests spanlog as users run it: the real binary in its own
// process, fed by OpenTelemetry SDK exporters and read through the HTTP API.
package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spanlog/spanlog/internal/logtest"
)

// binary is the spanlog binary TestMain builds for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spanlog-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "spanlog")
	build := exec.Command("go", "build", "-o", binary, "../cmd/spanlog")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build spanlog:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a port free on 127.0.0.1 at the time of the call, for
// a process the test starts. It is taken below the kernel's ephemeral range:
// a port from that range (what listening on :0 gives) can be taken as the
// source port of any outgoing connection, the starting process's own Kafka
// clients included, before that process listens on it. Each port is handed
// out once per test binary.
func freePort(t *testing.T) int {
	t.Helper()
	handedOut.mu.Lock()
	defer handedOut.mu.Unlock()
	lo, hi := 20000, ephemeralLow()
	for range 1000 {
		port := lo + rand.IntN(hi-lo)
		if handedOut.ports[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		handedOut.ports[port] = true
		return port
	}
	t.Fatalf("no free port in %d-%d", lo, hi)
	return 0
}

// handedOut are the ports freePort returned.
var handedOut = struct {
	mu    sync.Mutex
	ports map[int]bool
}{ports: make(map[int]bool)}

// ephemeralLow is the lowest port Linux picks for outgoing connections and
// for listening on :0; 32768 where it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 32768
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil || low <= 21000 {
		return 32768
	}
	return low
}

// process is one running spanlog.
type process struct {
	name string
	http string // address of its HTTP server
	args []string
	cmd  *exec.Cmd
	log  *logtest.Buffer
	done chan struct{}
	err  error
}

// startProcess runs spanlog with args and waits until its /ready, on http,
// says so. The process is killed when the test ends.
func startProcess(t *testing.T, name, http string, args []string) *process {
	t.Helper()
	p := launchProcess(t, name, http, args)
	p.waitReady(t)
	return p
}

// launchProcess runs spanlog with args, and does not wait for it to be
// ready. The process is killed when the test ends.
func launchProcess(t *testing.T, name, http string, args []string) *process {
	t.Helper()
	return launchBinary(t, binary, name, http, args)
}

// launchBinary is launchProcess with another build of spanlog, bin.
func launchBinary(t *testing.T, bin, name, http string, args []string) *process {
	t.Helper()
	p := &process{name: name, http: http, args: args, log: &logtest.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.log.String())
		}
	})
	return p
}

func (p *process) waitReady(t *testing.T) {
	t.Helper()
	waitFor(t, 60*time.Second, p.name+" ready", func() bool {
		select {
		case <-p.done:
			t.Fatalf("%s exited before ready: %v\n%s", p.name, p.err, p.log.String())
		default:
		}
		resp, err := http.Get("http://" + p.http + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// restart starts the same process again, after it ended.
func (p *process) restart(t *testing.T) *process {
	t.Helper()
	<-p.done
	return startProcess(t, p.name, p.http, p.args)
}

// node is a single-process spanlog (-target=all) with its ports and data.
type node struct {
	HTTP, Internal, OTLPGRPC, OTLPHTTP string
	Kafka                              string // the embedded Kafka's address
	DataDir                            string
	args                               []string
}

// newNode picks ports and a data directory for a -target=all process with
// short cycles, so blocks appear within seconds.
func newNode(t *testing.T, extra ...string) *node {
	n := &node{
		HTTP:     fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		Internal: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		OTLPGRPC: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		OTLPHTTP: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		Kafka:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		DataDir:  t.TempDir(),
	}
	_, kafkaPort, _ := net.SplitHostPort(n.Kafka)
	n.args = append([]string{
		"-target=all",
		"-server.http-listen-address=" + n.HTTP,
		"-server.internal-listen-address=" + n.Internal,
		"-distributor.grpc-listen-address=" + n.OTLPGRPC,
		"-distributor.http-listen-address=" + n.OTLPHTTP,
		"-embedded-kafka.port=" + kafkaPort,
		"-embedded-kafka.data-dir=" + filepath.Join(n.DataDir, "kafka"),
		"-storage.local.path=" + filepath.Join(n.DataDir, "blocks"),
	}, append(fastCycles, extra...)...)
	return n
}

// fastCycles makes blocks, polls and indexes happen within a second or two.
var fastCycles = []string{
	"-kafka.partitions=4",
	"-block-builder.cycle-duration=2s",
	"-block-builder.idle-cut-delay=500ms",
	"-querier.blocklist.poll-interval=300ms",
	"-compactor.blocklist.poll-interval=500ms",
	"-server.graceful-shutdown-timeout=10s",
	"-metrics-generator.flush-timeout=5s",
	"-querier.session-timeout=6s",
}

// start runs the node's process and waits until it is ready.
func (n *node) start(t *testing.T) *process {
	t.Helper()
	return startProcess(t, "spanlog", n.HTTP, n.args)
}

// kill stops the process with SIGKILL: no chance to flush or commit.
func (p *process) kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop within 30s of SIGTERM", p.name)
	}
	if p.err != nil {
		t.Fatalf("%s exited with %v after SIGTERM\n%s", p.name, p.err, p.log.String())
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	waitForWhat(t, timeout, cond, func() string { return what })
}

// waitForWhat is waitFor with a description of the last state seen.
func waitForWhat(t *testing.T, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metric returns the sum of the samples of a metric family on /metrics, or
// of the series matching a selector given as `name{label="v",...}` with
// its labels in exposition (alphabetical) order.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	v, err := scrape(addr, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// hasMetric says whether /metrics has a sample of name, a family or a
// selector as metric takes.
func hasMetric(t *testing.T, addr, name string) bool {
	t.Helper()
	_, n, err := scrapeSamples(addr, name)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// scrape is metric for a goroutine other than the test's, which must not
// call t.Fatal.
func scrape(addr, name string) (float64, error) {
	sum, _, err := scrapeSamples(addr, name)
	return sum, err
}

// scrapeSamples returns the sum of the samples metric reads, and how many
// there were.
func scrapeSamples(addr, name string) (sum float64, n int, err error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	prefixes := []string{name + " ", name + "{"}
	if strings.HasSuffix(name, "}") {
		prefixes = []string{strings.TrimSuffix(name, "}")}
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if !strings.HasPrefix(line, prefixes[0]) && (len(prefixes) == 1 || !strings.HasPrefix(line, prefixes[1])) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &v); err == nil {
			sum += v
			n++
		}
	}
	return sum, n, nil
}

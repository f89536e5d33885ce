package producer

import (
	"context"
	"encoding/binary"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/spanlog/spanlog/internal/kafkatest"
)

// numberedTraces returns testTraces(traces, spans, 1) with n in every ID,
// so that requests of different n share no span.
func numberedTraces(n, traces, spans int) ptrace.Traces {
	td := testTraces(traces, spans, 1)
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				tid, sid := s.TraceID(), s.SpanID()
				binary.BigEndian.PutUint32(tid[8:12], uint32(n))
				binary.BigEndian.PutUint32(sid[:4], uint32(n))
				s.SetTraceID(tid)
				s.SetSpanID(sid)
			}
		}
	}
	return td
}

// outcome is what a client learns of a request, whichever way it went.
type outcome struct {
	ok, unavailable bool
	message         string
	retryAfter      time.Duration
}

// way is one way a request reaches a distributor.
type way struct {
	name string
	send func(t *testing.T, d *Distributor, td ptrace.Traces) outcome
}

// ways returns Push and both OTLP receivers.
func ways() []way {
	return []way{
		{"push", func(t *testing.T, d *Distributor, td ptrace.Traces) outcome {
			return pushOutcome(d.Push(context.Background(), "single-tenant", td))
		}},
		{"grpc", func(t *testing.T, d *Distributor, td ptrace.Traces) outcome {
			err := exportGRPC(t, d.GRPCAddr(), "", td)
			st := grpcstatus.Convert(err)
			o := outcome{ok: err == nil, unavailable: st.Code() == codes.Unavailable, message: st.Message()}
			for _, detail := range st.Details() {
				if info, ok := detail.(*errdetails.RetryInfo); ok {
					o.retryAfter = info.GetRetryDelay().AsDuration()
				}
			}
			return o
		}},
		{"http", func(t *testing.T, d *Distributor, td ptrace.Traces) outcome {
			resp, msg, err := exportHTTPReply(d.HTTPAddr(), "", td)
			if err != nil {
				return outcome{message: err.Error()}
			}
			o := outcome{ok: resp.code == 200, unavailable: resp.code == 503, message: msg}
			if resp.retryAfter != "" {
				seconds, err := strconv.Atoi(resp.retryAfter)
				if err != nil {
					t.Errorf("Retry-After %q is not seconds", resp.retryAfter)
				}
				o.retryAfter = time.Duration(seconds) * time.Second
			}
			return o
		}},
	}
}

// pushOutcome takes what Push returns; the warning does not matter here.
func pushOutcome(_ string, err error) outcome {
	o := outcome{ok: err == nil, retryAfter: retryAfter(err)}
	if err != nil {
		o.unavailable = isType[*UnavailableError](err)
		o.message = err.Error()
	}
	return o
}

// checkUnavailable fails the test unless o is a retryable failure whose
// message holds want and that asks the client to wait retryAfter.
func checkUnavailable(t *testing.T, o outcome, want string, retryAfter time.Duration) {
	t.Helper()
	if !o.unavailable || !strings.Contains(o.message, want) {
		t.Errorf("got %+v, want Unavailable saying %q", o, want)
	}
	if o.retryAfter != retryAfter {
		t.Errorf("retry after %v, want %v", o.retryAfter, retryAfter)
	}
}

// ackedSpans collects the spans of the requests that got OK.
type ackedSpans struct {
	mu   sync.Mutex
	keys []spanKey
}

func (a *ackedSpans) add(keys []spanKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys = append(a.keys, keys...)
}

// load pushes requests to a distributor from a few goroutines, one after
// the other, until stopped, as OTLP clients keep doing through an outage.
type load struct {
	acks, failures atomic.Int64
	stop           chan struct{}
	wg             sync.WaitGroup
}

// startLoad starts pushing numbered requests from n upwards into d and
// records the spans acked in acked.
func startLoad(t *testing.T, d *Distributor, n int, acked *ackedSpans) *load {
	l := &load{stop: make(chan struct{})}
	var next atomic.Int64
	next.Store(int64(n))
	for range 2 {
		l.wg.Go(func() {
			// A pace, not a wait for a condition: it keeps the log short
			// enough to read back quickly.
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-l.stop:
					return
				case <-tick.C:
				}
				td := numberedTraces(int(next.Add(1)), 2, 2)
				keys := keysOf(td)
				switch _, err := d.Push(context.Background(), "single-tenant", td); {
				case err == nil:
					acked.add(keys)
					l.acks.Add(1)
				case isType[*UnavailableError](err):
					l.failures.Add(1)
				default:
					t.Errorf("push during the outage: %v", err)
				}
			}
		})
	}
	t.Cleanup(l.end)
	return l
}

// end stops the load and waits for its goroutines; it may be called twice.
func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// await waits until cond holds, checking every few milliseconds, and fails
// the test with what if it does not within timeout.
func await(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKafkaOutage takes Kafka away while requests keep coming, then brings
// it back on the same port with the same data, as a broker restart does.
// Requests must fail as retryable, within the write timeout, or at once
// when the buffer for Kafka is full, and succeed again once Kafka is back
// without the distributor restarting; and every span acked before, during
// or after the outage must be in the log.
func TestKafkaOutage(t *testing.T) {
	const (
		writeTimeout = time.Second
		// A loaded machine with the race detector can take a while to
		// answer on loopback; a hang would take far longer.
		margin = 2 * time.Second
		// patient's buffer, which one big request fills more than half.
		bufferBytes = 64 << 10
	)
	cluster := kafkatest.New(t, kfake.DataDir(t.TempDir()))
	// quick gives up after a short write timeout; patient waits long, so
	// that a request keeps its records buffered while the test looks.
	quick := startDistributor(t, cluster.Brokers(), func(s *testSetup) { s.cfg.WriteTimeout = writeTimeout })
	patient := startDistributor(t, cluster.Brokers(), func(s *testSetup) {
		s.cfg.WriteTimeout = time.Minute
		s.cfg.MaxRequestBytes = bufferBytes
		s.cfg.MaxRequestRecordBytes = bufferBytes
		s.cfg.MaxBufferedBytes = bufferBytes
	})
	var acked ackedSpans
	traffic := startLoad(t, quick, 1_000_000, &acked)
	// request numbers the test's own requests below the load's.
	request := 0
	next := func() int { request++; return request }
	await(t, 10*time.Second, "the load got acks", func() bool { return traffic.acks.Load() >= 10 })

	cluster.Close()

	t.Run("down", func(t *testing.T) {
		for _, w := range ways() {
			t.Run(w.name, func(t *testing.T) {
				start := time.Now()
				o := w.send(t, quick, numberedTraces(next(), 2, 2))
				if took := time.Since(start); took > writeTimeout+margin {
					t.Errorf("took %v, want at most the write timeout %v and a margin", took, writeTimeout)
				}
				checkUnavailable(t, o, "trace log unavailable", writeTimeout)
			})
		}
		await(t, 10*time.Second, "the load saw failures", func() bool { return traffic.failures.Load() > 0 })
	})

	t.Run("buffer full", func(t *testing.T) {
		// big's records fill more than half of patient's buffer, so a
		// second request like it cannot fit beside it.
		big := func(n int) ptrace.Traces { return numberedTraces(n, 140, 3) }
		if size := (&ptrace.ProtoMarshaler{}).TracesSize(big(0)); size <= bufferBytes/2 || size >= bufferBytes {
			t.Fatalf("a big request has %d bytes; resize it to over half of %d", size, bufferBytes)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		first := make(chan error, 1)
		firstTraces := big(next())
		go func() {
			_, err := patient.Push(ctx, "single-tenant", firstTraces)
			first <- err
		}()
		await(t, 10*time.Second, "the first big request is buffered", func() bool {
			return patient.client.BufferedProduceBytes() > bufferBytes/2
		})

		for _, w := range ways() {
			t.Run(w.name, func(t *testing.T) {
				o := w.send(t, patient, big(next()))
				checkUnavailable(t, o, "buffer of records waiting for Kafka is full", time.Minute)
				if !strings.Contains(o.message, "max-buffered-bytes") {
					t.Errorf("message %q does not name the limit", o.message)
				}
			})
		}
		// The others failed while the first one still waited for Kafka:
		// at once, not after a write timeout.
		select {
		case err := <-first:
			t.Errorf("the first big request ended before the test let it: %v", err)
		default:
		}
		if n := patient.client.BufferedProduceBytes(); n > bufferBytes {
			t.Errorf("%d bytes buffered, over the limit of %d", n, bufferBytes)
		}
		spans := float64(big(0).SpanCount())
		if got := metricValue(t, patient.metrics.spansRejected.WithLabelValues("single-tenant", reasonBufferFull)); got != 3*spans {
			t.Errorf("%v spans rejected as buffer_full, want %v", got, 3*spans)
		}
		cancel()
		checkUnavailable(t, pushOutcome("", <-first), context.Canceled.Error(), time.Minute)
	})

	cluster.Restart(t)
	failuresAtRestart := traffic.failures.Load()

	t.Run("back", func(t *testing.T) {
		// The client reconnects on its own; until it has, requests fail.
		for _, d := range []*Distributor{quick, patient} {
			await(t, 30*time.Second, "a push succeeds", func() bool {
				td := numberedTraces(next(), 2, 2)
				keys := keysOf(td)
				o := pushOutcome(d.Push(context.Background(), "single-tenant", td))
				if o.ok {
					acked.add(keys)
				} else if !o.unavailable {
					t.Fatalf("push: %s", o.message)
				}
				return o.ok
			})
		}
		for _, w := range ways() {
			t.Run(w.name, func(t *testing.T) {
				td := numberedTraces(next(), 2, 2)
				keys := keysOf(td)
				if o := w.send(t, quick, td); !o.ok {
					t.Fatalf("got %+v, want OK", o)
				}
				acked.add(keys)
			})
		}
		acksAtRestart := traffic.acks.Load()
		await(t, 10*time.Second, "the load got acks again", func() bool { return traffic.acks.Load() > acksAtRestart+10 })
	})
	traffic.end()
	t.Logf("load: %d requests acked, %d failed (%d before the restart)", traffic.acks.Load(), traffic.failures.Load(), failuresAtRestart)

	// Spans of failed requests may be in the log, any number of times: a
	// client retries them. Acked ones must be there.
	seen := logSpans(t, readLog(t, cluster.Brokers(), kafkatest.Topic), "single-tenant", testPartitions)
	missing, twice := 0, 0
	for _, k := range acked.keys {
		switch seen[k] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acked spans are not in the log", missing, len(acked.keys))
	}
	t.Logf("%d acked spans, %d of them more than once in the log, %d spans in the log", len(acked.keys), twice, len(seen))
}

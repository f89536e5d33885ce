package producer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/spanlog/spanlog/internal/kafkatest"
)

// holdProduce makes the cluster sit on every produce request until the
// returned function is called, which the test's end does anyway.
func holdProduce(t *testing.T, cluster *kafkatest.Cluster) (release func()) {
	held := make(chan struct{})
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.SleepControl(func() { <-held })
		return nil, nil, false // then handled as usual
	})
	var released bool
	release = func() {
		if !released {
			released = true
			close(held)
		}
	}
	t.Cleanup(release)
	return release
}

// stallUpload starts an OTLP/HTTP request whose body never arrives in full,
// and returns once the handler is reading it: the server asked for the
// body with 100 Continue.
func stallUpload(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n", tracesPath, addr)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, "100 Continue") {
		t.Fatalf("no 100 Continue: %q, %v", line, err)
	}
	if _, err := conn.Write([]byte{0x0a, 0x10}); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestGracefulStop stops a distributor while requests of every kind wait
// for Kafka's ack and a client is slow to send its body. At once, it must
// report not ready and refuse new connections, new requests on an open
// gRPC connection and new Pushes. The requests in flight must end with an ack that is in the log, or
// with Unavailable when Kafka does not answer within the write timeout;
// then Run must return, the slow client having been cut off, and leave no
// goroutine behind.
func TestGracefulStop(t *testing.T) {
	for _, tc := range []struct {
		name         string
		kafkaAnswers bool
		writeTimeout time.Duration
	}{
		// A write timeout no request can reach: those in flight wait for
		// Kafka until the test lets it answer.
		{"kafka answers", true, time.Minute},
		{"kafka hangs", false, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// On loaded cores with the race detector, things can take a
			// while; a hang would take far longer.
			const margin = 5 * time.Second
			cluster := kafkatest.New(t)
			before := goleak.IgnoreCurrent()
			d := newDistributor(t, cluster.Brokers(), func(s *testSetup) { s.cfg.WriteTimeout = tc.writeTimeout })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			<-d.ready

			// A connection that stays open across the stop.
			cc, err := grpc.NewClient(d.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			if err := exportOn(cc, numberedTraces(1, 1, 1)); err != nil {
				t.Fatal(err)
			}

			release := holdProduce(t, cluster)
			type result struct {
				way  string
				keys []spanKey
				out  outcome
			}
			results := make(chan result, len(ways()))
			for i, w := range ways() {
				// One trace: one record per request.
				td := numberedTraces(10+i, 1, 2)
				keys := keysOf(td)
				go func() { results <- result{w.name, keys, w.send(t, d, td)} }()
			}
			await(t, 10*time.Second, "every request waits for Kafka", func() bool {
				return d.client.BufferedProduceRecords() == int64(len(ways()))
			})
			stalled := stallUpload(t, d.HTTPAddr())

			stopped := time.Now()
			cancel()
			await(t, margin, "not ready", func() bool { return errors.Is(d.Ready(), errStopping) })
			for _, addr := range []string{d.GRPCAddr(), d.HTTPAddr()} {
				await(t, margin, "connections to "+addr+" refused", func() bool {
					conn, err := net.Dial("tcp", addr)
					if err == nil {
						conn.Close()
					}
					return err != nil
				})
			}
			if err := exportOn(cc, numberedTraces(2, 1, 1)); grpcstatus.Code(err) != codes.Unavailable {
				t.Errorf("new request on an open gRPC connection: %v, want Unavailable", err)
			}
			// Refused at once: the deadline only keeps a broken test short.
			pushCtx, cancelPush := context.WithTimeout(context.Background(), margin)
			defer cancelPush()
			if o := pushOutcome(d.Push(pushCtx, "single-tenant", numberedTraces(3, 1, 1))); !o.unavailable || !strings.Contains(o.message, errStopping.Error()) {
				t.Errorf("new push: %+v, want Unavailable, shutting down", o)
			}
			// Run must return within a write timeout for the requests in
			// flight, or at once when Kafka answers, then replyGrace to
			// cut off the slow client.
			bound := tc.writeTimeout + replyGrace + margin
			if tc.kafkaAnswers {
				select {
				case err := <-done:
					t.Fatalf("Run returned before the requests in flight ended: %v", err)
				default:
				}
				stopped = time.Now()
				bound = replyGrace + margin
				release()
			}

			var acked []spanKey
			for range ways() {
				r := <-results
				switch {
				case r.out.ok && tc.kafkaAnswers:
					acked = append(acked, r.keys...)
				case r.out.unavailable && !tc.kafkaAnswers:
				default:
					t.Errorf("%s request in flight: %+v", r.way, r.out)
				}
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(time.Until(stopped.Add(bound))):
				t.Fatalf("Run did not return within %v", bound)
			}
			// Closed, with a reset or not, or at worst with an error reply.
			stalled.SetReadDeadline(time.Now().Add(margin))
			switch reply, err := io.ReadAll(stalled); {
			case errors.Is(err, os.ErrDeadlineExceeded):
				t.Error("the stalled upload's connection is still open")
			case strings.HasPrefix(string(reply), "HTTP/1.1 200"):
				t.Errorf("the stalled upload got OK: %q", reply)
			}

			release()
			seen := logSpans(t, readLog(t, cluster.Brokers(), kafkatest.Topic), "single-tenant", testPartitions)
			for _, k := range acked {
				if seen[k] == 0 {
					t.Errorf("acked span %s is not in the log", k.span)
				}
			}
			cc.Close()
			http.DefaultClient.CloseIdleConnections()
			goleak.VerifyNone(t, append(kafkatest.IgnoreBroker(), before)...)
		})
	}
}

// exportOn sends td over the gRPC connection cc.
func exportOn(cc *grpc.ClientConn, td ptrace.Traces) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := ptraceotlp.NewGRPCClient(cc).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	return err
}

package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP exporters may gzip their requests

	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/tenant"
	"github.com/spanlog/spanlog/tracelog"
)

// Distributor receives OTLP traces and writes them to the trace log.
type Distributor struct {
	cfg     Config
	kafka   tracelog.Config
	tenants tenant.Config
	limits  *limits.Overrides
	// logSyncer is Deps.LogSyncer.
	logSyncer LogSyncer
	rates     *tenantRates
	logger    *slog.Logger
	metrics   *metrics
	client    *kgo.Client

	grpcListener, httpListener net.Listener
	grpcServer                 *grpc.Server
	httpServer                 *http.Server

	// partitions is the topic's partition count, 0 until it is known.
	partitions atomic.Int32
	// ready is closed once partitions is known.
	ready chan struct{}
	// pushes are the Pushes in progress, which a stopping Run waits for.
	pushes inflight
}

// Deps is what a distributor works with besides its own configuration.
type Deps struct {
	// Kafka is the trace log's configuration.
	Kafka tracelog.Config
	// Tenants says who may write.
	Tenants tenant.Config
	// Limits holds each tenant's limits.
	Limits *limits.Overrides
	// LogSyncer, when not nil, makes what Kafka acknowledged durable
	// before a client is told OK: for a broker whose ack alone does not
	// mean that, the embedded one. nil with a Kafka cluster, whose ack
	// with acks=all does.
	LogSyncer  LogSyncer
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// New returns a distributor writing to the log, within each tenant's limits
// as deps.Limits says them, with its listeners bound (so that their addresses are
// known at once) but not serving yet. Call Run exactly once: it serves and,
// when done, releases the listeners and the Kafka client.
func New(cfg Config, deps Deps) (*Distributor, error) {
	for _, err := range []error{cfg.Validate(), deps.Kafka.Validate(), deps.Tenants.Validate()} {
		if err != nil {
			return nil, err
		}
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	d := &Distributor{cfg: cfg, kafka: deps.Kafka, tenants: deps.Tenants, limits: deps.Limits, logSyncer: deps.LogSyncer,
		rates: newTenantRates(), logger: deps.Logger, metrics: m, ready: make(chan struct{})}
	if d.client, err = newClient(cfg, deps.Kafka); err != nil {
		return nil, err
	}
	if d.grpcListener, err = net.Listen("tcp", cfg.GRPCListenAddress); err != nil {
		d.client.Close()
		return nil, fmt.Errorf("listen for OTLP/gRPC: %w", err)
	}
	if d.httpListener, err = net.Listen("tcp", cfg.HTTPListenAddress); err != nil {
		d.grpcListener.Close()
		d.client.Close()
		return nil, fmt.Errorf("listen for OTLP/HTTP: %w", err)
	}
	d.grpcServer = grpc.NewServer(grpc.MaxRecvMsgSize(int(cfg.MaxRequestBytes)), grpc.ForceServerCodecV2(wireCodec{}))
	registerTraceService(d.grpcServer, &grpcReceiver{d: d})
	d.httpServer = d.newHTTPServer()
	return d, nil
}

// GRPCAddr is the address OTLP/gRPC is served on.
func (d *Distributor) GRPCAddr() string { return d.grpcListener.Addr().String() }

// HTTPAddr is the address OTLP/HTTP is served on.
func (d *Distributor) HTTPAddr() string { return d.httpListener.Addr().String() }

// Ready returns nil once the distributor knows the trace log's partitions
// and accepts writes, until Run is told to stop; otherwise writes fail as
// Unavailable, and Ready says why.
func (d *Distributor) Ready() error {
	if d.pushes.stopping() {
		return errStopping
	}
	select {
	case <-d.ready:
		return nil
	default:
		return errNotReady
	}
}

// Run serves OTLP until ctx is done. Meanwhile it makes sure the topic
// exists, retrying while Kafka is not reachable. Once ctx is done, it stops
// accepting connections and requests, which fail with Unavailable; it lets
// the Pushes in flight finish, each within WriteTimeout, so that an OK a
// client gets is an ack from Kafka; it closes connections still open a
// second later, then the Kafka client. It returns once all its goroutines
// have ended: nil after ctx is done, or the error of a server that failed.
func (d *Distributor) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	served := make(chan error, 2)
	wg.Go(func() { served <- d.serveGRPC() })
	wg.Go(func() { served <- d.serveHTTP() })
	wg.Go(func() { d.awaitTopic(ctx) })
	d.logger.Info("distributor serving OTLP", "grpc", d.GRPCAddr(), "http", d.HTTPAddr())

	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	cancel()
	d.logger.Info("distributor stopping")
	d.stop()
	wg.Wait()
	d.client.Close()
	return err
}

func (d *Distributor) serveGRPC() error {
	err := d.grpcServer.Serve(d.grpcListener)
	if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve OTLP/gRPC: %w", err)
	}
	return nil
}

func (d *Distributor) serveHTTP() error {
	err := d.httpServer.Serve(d.httpListener)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve OTLP/HTTP: %w", err)
	}
	return nil
}

// Backoff of the topic set-up while Kafka is not reachable.
const (
	minTopicBackoff = 100 * time.Millisecond
	maxTopicBackoff = 10 * time.Second
)

// awaitTopic makes sure the topic exists and learns its partition count,
// retrying until it succeeds or ctx is done. Receivers serve meanwhile and
// answer Unavailable, which OTLP clients retry.
func (d *Distributor) awaitTopic(ctx context.Context) {
	backoff := minTopicBackoff
	for {
		n, err := tracelog.EnsureTopic(ctx, d.client, d.kafka)
		if err == nil && n <= 0 {
			err = fmt.Errorf("topic %s has no partitions", d.kafka.Topic)
		}
		if err == nil {
			d.partitions.Store(n)
			close(d.ready)
			d.logger.Info("distributor ready", "topic", d.kafka.Topic, "partitions", n)
			return
		}
		if ctx.Err() != nil {
			return
		}
		d.logger.Warn("Kafka topic not available, retrying", "topic", d.kafka.Topic, "retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxTopicBackoff)
	}
}

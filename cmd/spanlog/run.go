package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/spanlog/spanlog/blockbuilder"
	"github.com/spanlog/spanlog/compactor"
	"github.com/spanlog/spanlog/generator"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/producer"
	"github.com/spanlog/spanlog/querier"
	"github.com/spanlog/spanlog/querier/api"
	"github.com/spanlog/spanlog/querier/grpcapi"
	"github.com/spanlog/spanlog/tracelog"
)

// roleLogRetention trims the log; it runs with the compactor.
const roleLogRetention = "log-retention"

// role is one long-lived part of the process.
type role struct {
	name  string
	run   func(context.Context) error
	ready func() error // nil: ready while running
}

// run starts the roles of cfg.Target and serves until ctx ends or a role
// fails, then stops everything within the graceful shutdown timeout.
func run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var logSyncer producer.LogSyncer
	if cfg.embedsKafka() {
		kafka, commit, err := startEmbeddedKafka(ctx, cfg.EmbeddedKafka, cfg.Kafka, logger, reg)
		if err != nil {
			return err
		}
		logSyncer = commit
		// Closed last, after every role stopped using it.
		defer kafka.Close()
		// The roles talk to the embedded broker wherever it listens (a
		// port of 0 picks a free one).
		cfg.Kafka.Brokers = kafka.ListenAddrs()
	}

	// Queriers listen for each other before they join their group, so
	// that the address they advertise there is where they listen.
	var internalLn net.Listener
	if cfg.runs(targetQuerier) {
		addr := cfg.internalListenAddress()
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("internal listener: %w", err)
		}
		defer ln.Close()
		internalLn = ln
		if cfg.Querier.AdvertiseAddress == "" {
			if cfg.Querier.AdvertiseAddress, err = advertiseAddress(addr, ln.Addr()); err != nil {
				return err
			}
		}
	}
	roles, q, gen, err := buildRoles(ctx, cfg.withBackground(), logSyncer, logger, reg)
	if err != nil {
		if ctx.Err() != nil {
			logger.Info("stopped while starting", "reason", err)
			return nil // a signal during the storage check, not a failure
		}
		return err
	}
	var (
		routes   func(*http.ServeMux)
		withGRPC func(http.Handler) http.Handler
		stopGRPC func()
	)
	if q != nil {
		a := api.New(q, logger.With("role", targetQuerier), reg)
		g := grpcapi.New(a, q)
		routes, withGRPC, stopGRPC = a.RegisterRoutes, g.Handler, g.Stop
	}
	if gen != nil {
		routes = withRoutes(routes, gen.RegisterRoutes)
	}
	srv, ln, err := newServer(cfg.Server, reg, readiness(roles), routes, withGRPC)
	if err != nil {
		return err
	}
	servers := []listening{{name: "http server", srv: srv, ln: ln, stopStreams: stopGRPC}}
	started := []any{"target", cfg.Target, "http", ln.Addr().String(), "version", version}
	if q != nil {
		servers = append(servers, listening{name: "internal listener", srv: newInternalServer(cfg.Server, q.RegisterPeerRoutes), ln: internalLn})
		started = append(started, "internal", internalLn.Addr().String(), "advertise", cfg.Querier.AdvertiseAddress)
	}
	logger.Info("spanlog started", started...)

	ctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	for _, r := range roles {
		wg.Go(func() {
			if err := r.run(ctx); err != nil {
				cancel(fmt.Errorf("%s: %w", r.name, err))
			}
		})
	}
	serveDone := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			if err := serveErr(s.srv.Serve(s.ln)); err != nil {
				serveDone <- fmt.Errorf("%s: %w", s.name, err)
			}
		}()
	}

	select {
	case <-ctx.Done():
	case err := <-serveDone:
		cancel(err)
	}
	cause := context.Cause(ctx)
	logger.Info("stopping", "reason", cause, "grace", cfg.Server.GracefulShutdown)
	cancel(nil)

	grace, stop := context.WithTimeout(context.Background(), cfg.Server.GracefulShutdown)
	defer stop()
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	var shutdowns sync.WaitGroup
	for _, s := range servers {
		shutdowns.Go(func() { s.shutdown(grace) })
	}
	shutdowns.Wait()
	select {
	case <-stopped:
	case <-grace.Done():
		return errors.New("roles did not stop within the graceful shutdown timeout")
	}
	logger.Info("stopped")
	if errors.Is(cause, context.Canceled) {
		return nil // a signal, not a failure
	}
	return cause
}

// listening is a server and the listener it serves.
type listening struct {
	name string
	srv  *http.Server
	ln   net.Listener
	// stopStreams, if not nil, ends the gRPC streams srv serves.
	stopStreams func()
}

// shutdown stops the server within grace: it stops accepting, and waits
// for the requests under way, gRPC streams included. Those still open
// when grace ends are ended, their queries cancelled: Shutdown does not
// end what it waits for.
func (l listening) shutdown(grace context.Context) {
	_ = l.srv.Shutdown(grace)
	if l.stopStreams != nil {
		l.stopStreams()
	}
}

// withRoutes returns a function that registers the routes of a, if not
// nil, then b's.
func withRoutes(a, b func(*http.ServeMux)) func(*http.ServeMux) {
	if a == nil {
		return b
	}
	return func(mux *http.ServeMux) { a(mux); b(mux) }
}

// packerMaxBytes and packerMaxAge bound the compressed values a
// block-builder and a live tail of one process keep for each other
// (tracelog.Packer). The builder reads seconds behind the tail at times:
// it polls between writing its blocks. At 100,000 spans/s the log grows
// about 14 MB/s.
const (
	packerMaxBytes = 128 << 20
	packerMaxAge   = 10 * time.Second
)

// buildRoles creates the roles of cfg.Target, the distributor with
// logSyncer if not nil, and returns the querier and the metrics-generator
// among them, if any, whose routes the servers serve. A role that uses object storage starts only on
// a bucket that passed its check (objstore.Open), which may wait for S3 to
// answer.
func buildRoles(ctx context.Context, cfg Config, logSyncer producer.LogSyncer, logger *slog.Logger, reg prometheus.Registerer) ([]role, *querier.Querier, *generator.Generator, error) {
	var (
		roles  []role
		q      *querier.Querier
		gen    *generator.Generator
		bucket objstore.Bucket
		lim    *limits.Overrides
	)
	if cfg.usesStorage() {
		b, err := objstore.Open(ctx, cfg.Storage, reg, logger)
		if err != nil {
			return nil, nil, nil, err
		}
		bucket = b
	}
	if cfg.runs(targetDistributor) || cfg.runs(targetQuerier) || cfg.runs(targetCompactor) || cfg.runs(targetGenerator) {
		// One for every role: its metrics are registered once.
		l, err := limits.NewOverrides(cfg.Limits, logger.With("role", "limits"), reg)
		if err != nil {
			return nil, nil, nil, err
		}
		lim = l
		roles = append(roles, role{name: "limits", run: lim.Run})
	}
	if cfg.runs(targetDistributor) {
		d, err := producer.New(cfg.Distributor, producer.Deps{
			Kafka: cfg.Kafka, Tenants: cfg.Tenants, Limits: lim, LogSyncer: logSyncer,
			Logger: logger.With("role", targetDistributor), Registerer: reg,
		})
		if err != nil {
			return nil, nil, nil, err
		}
		roles = append(roles, role{name: targetDistributor, run: d.Run, ready: d.Ready})
	}
	// A block-builder and a live tail in one process hold the same records
	// compressed: the first to read one compresses it, the other takes
	// its copy.
	var packer *tracelog.Packer
	if cfg.runs(targetBlockBuilder) && cfg.runs(targetQuerier) {
		packer = tracelog.NewPacker(packerMaxBytes, packerMaxAge, reg)
	}
	if cfg.runs(targetBlockBuilder) {
		b, err := blockbuilder.New(cfg.BlockBuilder, cfg.Kafka, cfg.Tenants.Default, bucket, logger.With("role", targetBlockBuilder), reg)
		if err != nil {
			return nil, nil, nil, err
		}
		b.SharePacked(packer)
		roles = append(roles, role{name: targetBlockBuilder, run: b.Run})
	}
	if cfg.runs(targetQuerier) {
		var err error
		q, err = querier.New(cfg.Querier, querier.Deps{
			Kafka: cfg.Kafka, Tenants: cfg.Tenants, Limits: lim,
			BlocksGroup: cfg.BlockBuilder.ConsumerGroup, BlockRetention: cfg.Compactor.BlockRetention,
			Bucket: bucket, Logger: logger.With("role", targetQuerier), Registerer: reg,
			Packer: packer,
		})
		if err != nil {
			return nil, nil, nil, err
		}
		roles = append(roles, role{name: targetQuerier, run: q.Run, ready: q.Ready})
	}
	if cfg.runs(targetCompactor) {
		c, err := compactor.New(cfg.Compactor, cfg.Kafka, cfg.BlockBuilder.ConsumerGroup, lim, bucket, logger.With("role", targetCompactor), reg)
		if err != nil {
			return nil, nil, nil, err
		}
		roles = append(roles, role{name: targetCompactor, run: c.Run})
		// The log's retention needs no storage, but runs where the
		// bucket's does: one place trims both.
		r, err := tracelog.NewRetention(cfg.Kafka, cfg.BlockBuilder.ConsumerGroup, logger.With("role", roleLogRetention), reg)
		if err != nil {
			return nil, nil, nil, err
		}
		roles = append(roles, role{name: roleLogRetention, run: r.Run})
	}
	if cfg.runs(targetGenerator) {
		var err error
		gen, err = generator.New(cfg.MetricsGenerator, generator.Deps{
			Kafka: cfg.Kafka, Tenants: cfg.Tenants, Limits: lim, Bucket: bucket,
			Logger: logger.With("role", targetGenerator), Registerer: reg,
		})
		if err != nil {
			return nil, nil, nil, err
		}
		roles = append(roles, role{name: targetGenerator, run: gen.Run})
	}
	return roles, q, gen, nil
}

// readiness reports the first role that is not ready.
func readiness(roles []role) func() error {
	return func() error {
		for _, r := range roles {
			if r.ready != nil {
				if err := r.ready(); err != nil {
					return fmt.Errorf("%s: %w", r.name, err)
				}
			}
		}
		return nil
	}
}

// advertiseAddress is where other queriers reach this process's internal
// listener, listening at listen on bound, when querier.advertise-address
// is not set: the host of listen, or the host name when listen has none,
// and the port bound (which listen may leave to the system, as :0).
func advertiseAddress(listen string, bound net.Addr) (string, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("server.internal-listen-address %q: %w", listen, err)
	}
	_, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return "", fmt.Errorf("internal listener address %q: %w", bound, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if host, err = os.Hostname(); err != nil {
			return "", fmt.Errorf("querier advertise address: %w", err)
		}
	}
	return net.JoinHostPort(host, port), nil
}

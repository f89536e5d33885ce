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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/spanlog/spanlog/blockbuilder"
	"github.com/spanlog/spanlog/compactor"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/producer"
	"github.com/spanlog/spanlog/querier"
)

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

	if cfg.embedsKafka() {
		kafka, err := startEmbeddedKafka(cfg.EmbeddedKafka, cfg.Kafka.Topic, cfg.Kafka.Partitions, logger)
		if err != nil {
			return err
		}
		// Closed last, after every role stopped using it.
		defer kafka.Close()
		// The roles talk to the embedded broker wherever it listens (a
		// port of 0 picks a free one).
		cfg.Kafka.Brokers = kafka.ListenAddrs()
	}

	if cfg.runs(targetQuerier) && cfg.Querier.AdvertiseAddress == "" {
		addr, err := advertiseAddress(cfg.Server.HTTPListenAddress)
		if err != nil {
			return err
		}
		cfg.Querier.AdvertiseAddress = addr
	}
	roles, routes, err := buildRoles(cfg, logger, reg)
	if err != nil {
		return err
	}
	srv, ln, err := newServer(cfg.Server.HTTPListenAddress, reg, readiness(roles), routes)
	if err != nil {
		return err
	}
	logger.Info("spanlog started", "target", cfg.Target, "http", ln.Addr().String(), "version", version)

	ctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	for _, r := range roles {
		wg.Go(func() {
			if err := r.run(ctx); err != nil {
				cancel(fmt.Errorf("%s: %w", r.name, err))
			}
		})
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- serveErr(srv.Serve(ln)) }()

	select {
	case <-ctx.Done():
	case err := <-serveDone:
		cancel(fmt.Errorf("http server: %w", err))
	}
	cause := context.Cause(ctx)
	logger.Info("stopping", "reason", cause, "grace", cfg.Server.GracefulShutdown)
	cancel(nil)

	grace, stop := context.WithTimeout(context.Background(), cfg.Server.GracefulShutdown)
	defer stop()
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	_ = srv.Shutdown(grace)
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

// buildRoles creates the roles of cfg.Target and the query routes, if any.
func buildRoles(cfg Config, logger *slog.Logger, reg prometheus.Registerer) ([]role, func(*http.ServeMux), error) {
	var (
		roles  []role
		routes func(*http.ServeMux)
		bucket objstore.Bucket
		lim    *limits.Overrides
	)
	if cfg.runs(targetBlockBuilder) || cfg.runs(targetQuerier) || cfg.runs(targetCompactor) {
		b, err := objstore.New(cfg.Storage, reg, logger)
		if err != nil {
			return nil, nil, err
		}
		bucket = b
	}
	if cfg.runs(targetDistributor) || cfg.runs(targetQuerier) {
		// One for both roles: its metrics are registered once.
		l, err := limits.NewOverrides(cfg.Limits, logger.With("role", "limits"), reg)
		if err != nil {
			return nil, nil, err
		}
		lim = l
		roles = append(roles, role{name: "limits", run: lim.Run})
	}
	if cfg.runs(targetDistributor) {
		d, err := producer.New(cfg.Distributor, cfg.Kafka, cfg.Tenants, lim, logger.With("role", targetDistributor), reg)
		if err != nil {
			return nil, nil, err
		}
		roles = append(roles, role{name: targetDistributor, run: d.Run, ready: d.Ready})
	}
	if cfg.runs(targetBlockBuilder) {
		b, err := blockbuilder.New(cfg.BlockBuilder, cfg.Kafka, cfg.Tenants.Default, bucket, logger.With("role", targetBlockBuilder), reg)
		if err != nil {
			return nil, nil, err
		}
		roles = append(roles, role{name: targetBlockBuilder, run: b.Run})
	}
	if cfg.runs(targetQuerier) {
		q, err := querier.New(cfg.Querier, cfg.Kafka, cfg.Tenants, lim, cfg.BlockBuilder.ConsumerGroup, bucket, logger.With("role", targetQuerier), reg)
		if err != nil {
			return nil, nil, err
		}
		roles = append(roles, role{name: targetQuerier, run: q.Run, ready: q.Ready})
		routes = q.RegisterRoutes
	}
	if cfg.runs(targetCompactor) {
		c, err := compactor.New(cfg.Compactor, cfg.Kafka, cfg.BlockBuilder.ConsumerGroup, bucket, logger.With("role", targetCompactor), reg)
		if err != nil {
			return nil, nil, err
		}
		roles = append(roles, role{name: targetCompactor, run: c.Run})
	}
	return roles, routes, nil
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

// advertiseAddress is where other queriers reach this process's HTTP
// server when querier.advertise-address is not set: the listen address,
// with the host name for a listen address without a host.
func advertiseAddress(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("server.http-listen-address %q: %w", listen, err)
	}
	if port == "0" {
		return "", errors.New("querier.advertise-address must be set when the HTTP port is chosen at random")
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if host, err = os.Hostname(); err != nil {
			return "", fmt.Errorf("querier advertise address: %w", err)
		}
	}
	return net.JoinHostPort(host, port), nil
}

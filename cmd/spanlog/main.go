// Command spanlog runs the spanlog tracing backend: with -target=all every
// role in one process on an embedded Kafka and a local directory, or one
// role per process against a real Kafka cluster and object store.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	t, isTool, err := findTool(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "spanlog:", err)
		os.Exit(2)
	}
	if isTool {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		err := t.run(ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "spanlog %s: %v\n", t.name, err)
			os.Exit(1)
		}
		return
	}
	cfg := defaultConfig()
	fs := flag.NewFlagSet("spanlog", flag.ContinueOnError)
	if err := loadConfig(&cfg, fs, os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "spanlog:", err)
		os.Exit(2)
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "spanlog: invalid configuration:", err)
		os.Exit(2)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Server.LogLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "spanlog: server.log-level:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if limit := cfg.Server.setMemoryLimit(); hasMemoryLimit(limit) {
		logger.Info("soft memory limit", "bytes", limit)
	}
	logger.Info("go runtime", "gomaxprocs", cfg.Server.setGOMAXPROCS(), "cpus", runtime.NumCPU(), "background_nice", cfg.Server.BackgroundNice)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("spanlog failed", "err", err)
		os.Exit(1)
	}
}

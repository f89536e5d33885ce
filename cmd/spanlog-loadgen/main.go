// Command spanlog-loadgen sends synthetic traces to an OTLP endpoint at a
// set rate and reports what the endpoint acknowledged: a line per second
// while it runs, then a summary with failures by code and export latency.
//
//	spanlog-loadgen -endpoint 127.0.0.1:4317 -rate 2000 -duration 30s
//	spanlog-loadgen -endpoint 127.0.0.1:4317 -rate 0 -traces 140000 -seed 1
//	spanlog-loadgen -client collector -rate 0 -duration 20s
//
// -client collector builds requests as an OpenTelemetry Collector does
// rather than through the SDK: the same spans for a seed at a fraction of
// the CPU, for runs on the machine the endpoint runs on.
//
// It exits with status 1 when no span was acknowledged, or, given
// -traces, when any was not; 2 on bad flags.
//
// Its search subcommand times TraceQL searches as Grafana makes them, by
// default ten written for the traces it sends, and prints a table of their
// latencies (see internal/querybench):
//
//	spanlog-loadgen search -endpoint http://127.0.0.1:3200 -since 1h -repeat 5
//
// It exits with status 1 when a query failed, 2 on bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spanlog/spanlog/internal/cputime"
	"github.com/spanlog/spanlog/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "search" {
		return runSearch(ctx, args[1:], stdout, stderr)
	}
	cfg, duration, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "spanlog-loadgen:", err)
		return 2
	}
	g, err := loadgen.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "spanlog-loadgen:", err)
		return 2
	}
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	fmt.Fprintf(stdout, "sending %sto %s over %s (%s client), %s traces/s of %d spans, %d per request, %d workers, seed %d\n",
		countText(cfg.Traces), cfg.Endpoint, cfg.Protocol, cfg.Client, rateText(cfg.Rate), cfg.SpansPerTrace, cfg.BatchTraces, cfg.Workers, g.Seed())

	stopReports := make(chan struct{})
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		reportEverySecond(stdout, g, stopReports)
	}()
	cpu0, _ := cputime.Process()
	res, err := g.Run(ctx)
	cpu1, measured := cputime.Process()
	close(stopReports)
	<-reported
	if err != nil {
		fmt.Fprintln(stderr, "spanlog-loadgen:", err)
		return 1
	}
	printSummary(stdout, cfg, res)
	if measured {
		fmt.Fprintln(stdout, cpuLine(cpu1-cpu0, res))
	}
	// A counted run is meant to load a data set whole.
	if res.AckedSpans == 0 || cfg.Traces > 0 && res.AckedSpans != cfg.Traces*int64(cfg.SpansPerTrace) {
		return 1
	}
	return 0
}

// parseFlags reads the flags into a loadgen.Config and the run's duration.
func parseFlags(args []string, stderr io.Writer) (loadgen.Config, time.Duration, error) {
	cfg := loadgen.DefaultConfig()
	var duration time.Duration
	fs := flag.NewFlagSet("spanlog-loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Endpoint, "endpoint", cfg.Endpoint, "OTLP receiver host:port, without TLS; with -protocol http the default is 127.0.0.1:4318")
	fs.StringVar(&cfg.Protocol, "protocol", cfg.Protocol, "OTLP transport: grpc or http")
	fs.StringVar(&cfg.Client, "client", cfg.Client, "how requests are built and sent: sdk, through the OpenTelemetry SDK's exporter as an application does, or collector, as the Collector's OTLP exporter does, several times cheaper per span")
	fs.StringVar(&cfg.Tenant, "tenant", cfg.Tenant, "tenant sent as X-Scope-OrgID; empty sends none")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "requests in flight at once, each on its own connection")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "traces per second over all workers, a ceiling; 0 sends as fast as possible")
	fs.IntVar(&cfg.SpansPerTrace, "spans-per-trace", cfg.SpansPerTrace, "spans in every trace")
	fs.IntVar(&cfg.AttributesPerSpan, "attributes-per-span", cfg.AttributesPerSpan, "attributes on every span")
	fs.IntVar(&cfg.BatchTraces, "batch-traces", cfg.BatchTraces, "traces per export request")
	fs.IntVar(&cfg.Services, "services", cfg.Services, "distinct service.name values")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "longest wait for one export request's answer")
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "seed making trace shapes and IDs reproducible; 0 picks one from the clock")
	fs.Int64Var(&cfg.Traces, "traces", cfg.Traces, "traces to send before stopping, shared among the workers; 0 sends until -duration or interrupted")
	fs.DurationVar(&duration, "duration", 0, "how long to send; 0 sends until interrupted")
	if err := fs.Parse(args); err != nil {
		return cfg, 0, err
	}
	if fs.NArg() > 0 {
		return cfg, 0, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if duration < 0 {
		return cfg, 0, fmt.Errorf("-duration must not be negative, got %v", duration)
	}
	endpointSet := false
	fs.Visit(func(f *flag.Flag) { endpointSet = endpointSet || f.Name == "endpoint" })
	if !endpointSet && cfg.Protocol == loadgen.ProtocolHTTP {
		cfg.Endpoint = "127.0.0.1:4318"
	}
	return cfg, duration, nil
}

func countText(traces int64) string {
	if traces == 0 {
		return ""
	}
	return fmt.Sprintf("%d traces ", traces)
}

func rateText(rate float64) string {
	if rate == 0 {
		return "unlimited"
	}
	return fmt.Sprint(rate)
}

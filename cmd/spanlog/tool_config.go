package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/tracelog"
)

// What the tools that talk to Kafka and the bucket (replay, offsets)
// share: the server's configuration, read as the server reads it, so that
// `spanlog replay -config.file=spanlog.yaml` reaches the Kafka and the
// bucket the server uses, and errors that say which setting to fix.

// parseToolFlags reads the server's configuration (-config.file and every
// server flag) and the tool's own flags, which own holds, from args, which
// take no positional argument. Its usage lists the tool's own flags; the
// server's are spanlog -help's. After -help it returns flag.ErrHelp.
func parseToolFlags(name, synopsis string, own *flag.FlagSet, args []string, errOut io.Writer) (Config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("spanlog "+name, flag.ContinueOnError)
	fs.SetOutput(errOut)
	own.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	setToolUsage(fs, errOut, fmt.Sprintf("usage: spanlog %s\n\n"+
		"It reads the server's configuration: -config.file=FILE and every flag of\n"+
		"spanlog -help (-kafka.brokers, -kafka.topic, -storage.*, -block-builder.*, ...).\n\n", synopsis), configFileFlag)
	positional, err := parseToolArgs(fs, args, func(args []string) error { return loadConfig(&cfg, fs, args) })
	if err != nil {
		return cfg, err
	}
	if len(positional) > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q; see spanlog %s -help", positional, name)
	}
	if err := cfg.Kafka.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// toolLogger logs warnings and errors to errOut, and with verbose what
// the roles log at info too.
func toolLogger(errOut io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))
}

// toolKafka returns the log cfg names and a client of it, once a broker
// answered.
func toolKafka(ctx context.Context, cfg Config, clientID string) (tracelog.Config, *kgo.Client, error) {
	k := cfg.Kafka
	// A process of target all talks to its embedded Kafka wherever
	// embedded-kafka.port puts it, whatever kafka.brokers says. So does a
	// tool given its configuration, unless brokers were named.
	embedded := cfg.embedsKafka() && slices.Equal(k.Brokers, tracelog.DefaultConfig().Brokers)
	if embedded {
		k.Brokers = []string{"127.0.0.1:" + strconv.Itoa(cfg.EmbeddedKafka.Port)}
	}
	cl, err := kgo.NewClient(k.ClientOpts(clientID)...)
	if err != nil {
		return k, nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, k.DialTimeout+5*time.Second)
	defer cancel()
	if err := cl.Ping(pingCtx); err != nil {
		cl.Close()
		if ctx.Err() != nil {
			return k, nil, ctx.Err()
		}
		where := "set the brokers with -kafka.brokers (kafka.brokers in the file of -config.file)"
		if embedded {
			where = "that is the embedded Kafka of a spanlog -target=all (its port is embedded-kafka.port): start that spanlog, or name another Kafka with -kafka.brokers"
		}
		return k, nil, fmt.Errorf("cannot reach Kafka at %s: %v; %s", strings.Join(k.Brokers, ","), err, where)
	}
	if _, err := tracelog.Partitions(ctx, cl, k.Topic); err != nil {
		cl.Close()
		return k, nil, fmt.Errorf("%v; the topic is kafka.topic (flag -kafka.topic): is it spanlog's, on the right cluster?", err)
	}
	return k, cl, nil
}

// toolBucket opens the bucket cfg names, refusing one that cannot be
// the server's: a local directory that does not exist (opening it would
// create an empty one), or an S3 bucket that does not answer or refuses.
func toolBucket(ctx context.Context, cfg Config, logger *slog.Logger) (objstore.Bucket, error) {
	if err := cfg.Storage.Validate(); err != nil {
		return nil, err
	}
	if cfg.Storage.Backend == "local" {
		if _, err := os.Stat(cfg.Storage.Local.Path); err != nil {
			return nil, fmt.Errorf("storage: no blocks directory at %s (%v); set -storage.local.path (storage.local.path in the file of -config.file) to the directory the server writes blocks to",
				cfg.Storage.Local.Path, errors.Unwrap(err))
		}
	}
	b, err := objstore.New(cfg.Storage, prometheus.NewRegistry(), logger)
	if err != nil {
		return nil, err
	}
	if s3, ok := b.(*objstore.S3); ok {
		// A tool that cannot reach the bucket has nothing to do: unlike the
		// server, it does not start without it.
		if err := s3.Check(ctx); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// partitionList is a flag of partitions: 0,2,5-7.
type partitionList []int32

func (l *partitionList) String() string {
	var parts []string
	for _, p := range *l {
		parts = append(parts, strconv.Itoa(int(p)))
	}
	return strings.Join(parts, ",")
}

func (l *partitionList) Set(s string) error {
	*l = nil
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(item, "-")
		first, err := strconv.ParseInt(lo, 10, 32)
		last := first
		if err == nil && isRange {
			last, err = strconv.ParseInt(hi, 10, 32)
		}
		if err != nil || first < 0 || last < first {
			return fmt.Errorf("%q is no partition or range of partitions (3, or 2-5)", item)
		}
		for p := first; p <= last; p++ {
			*l = append(*l, int32(p))
		}
	}
	return nil
}

// positionFlag is a flag naming a place in the log (tracelog.ParsePosition).
type positionFlag struct{ pos tracelog.Position }

func (f *positionFlag) String() string {
	if f.pos.IsZero() {
		return ""
	}
	return f.pos.String()
}

func (f *positionFlag) Set(s string) error {
	p, err := tracelog.ParsePosition(s, time.Now())
	if err != nil {
		return err
	}
	f.pos = p
	return nil
}

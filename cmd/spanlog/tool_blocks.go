package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/objstore"
)

func blocksTool() tool {
	return tool{
		name:    "blocks",
		summary: "list, inspect and verify a tenant's blocks in object storage",
		run:     runBlocks,
	}
}

const blocksUsage = `usage:
  spanlog blocks ls [flags]                    a tenant's blocks: offsets, time range, spans, size, level, state
  spanlog blocks inspect [flags] <block-id>    one block's meta, row groups, columns and traces
  spanlog blocks verify [flags] <block-id>...  check that blocks' data matches their metas
  spanlog blocks verify -all [flags]           ... every block of the tenant

They read the bucket the server writes: give them the server's -config.file,
or its -storage.* flags (spanlog -help lists them). Their own flags:
`

// blocksCommand is one run of spanlog blocks: its settings, and the
// bucket they point at.
type blocksCommand struct {
	cfg    Config
	tenant string
	// all (verify) verifies every block of the tenant.
	all bool
	// traces (inspect) is how many trace summaries to print; 0 for all.
	traces int

	out    *output
	errOut io.Writer
	bucket objstore.Bucket
}

func runBlocks(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(errOut, blocksUsage)
		return errors.New("name a command: ls, inspect or verify")
	}
	sub, args := args[0], args[1:]
	c := &blocksCommand{cfg: defaultConfig(), errOut: errOut}
	fs := flag.NewFlagSet("spanlog blocks "+sub, flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&c.tenant, "tenant", "", "Tenant whose blocks to read (default: tenants.default-tenant, the tenant of all data when multi-tenancy is off).")
	format := fs.String("o", formatTable, "Output format: table or json.")
	var run func(context.Context, []string) error
	switch sub {
	case "ls":
		run = c.list
	case "inspect":
		fs.IntVar(&c.traces, "traces", 20, "Trace summaries to print, in trace ID order; 0 prints every one.")
		run = c.inspect
	case "verify":
		fs.BoolVar(&c.all, "all", false, "Verify every block of the tenant.")
		run = c.verify
	default:
		fmt.Fprint(errOut, blocksUsage)
		return fmt.Errorf("unknown command %q: want ls, inspect or verify", sub)
	}
	setToolUsage(fs, errOut, blocksUsage, configFileFlag)
	positional, err := parseToolArgs(fs, args, func(args []string) error { return loadConfig(&c.cfg, fs, args) })
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.out, err = newOutput(out, *format); err != nil {
		return err
	}
	if c.tenant == "" {
		c.tenant = c.cfg.Tenants.Default
	}
	if err := c.openBucket(ctx); err != nil {
		return err
	}
	return run(ctx, positional)
}

// openBucket opens the bucket the configuration names, and checks that it
// can be read, so that a wrong setting fails here with the key to fix,
// not as every read failing.
func (c *blocksCommand) openBucket(ctx context.Context) error {
	cfg := c.cfg.Storage
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: set it in the server's -config.file or with its -storage.* flags", err)
	}
	if cfg.Backend == "local" {
		// objstore.NewDir would create a missing directory: here that
		// would only hide a wrong path behind an empty listing.
		if fi, err := os.Stat(cfg.Local.Path); err != nil || !fi.IsDir() {
			return fmt.Errorf("no block directory at %s (storage.local.path): point -storage.local.path, or -config.file, at the server's", cfg.Local.Path)
		}
	}
	// Warnings only: the S3 check's retries, while S3 does not answer.
	logger := slog.New(slog.NewTextHandler(c.errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	bkt, err := objstore.New(cfg, prometheus.NewRegistry(), logger)
	if err != nil {
		return err
	}
	if s3, ok := bkt.(*objstore.S3); ok {
		// Its errors name the storage.s3.* key to fix.
		if err := s3.Check(ctx); err != nil {
			return err
		}
	}
	c.bucket = bkt
	return nil
}

// parseBlockID parses a block ID given on the command line.
func parseBlockID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return id, fmt.Errorf("%q is not a block ID (a UUID, as spanlog blocks ls prints)", s)
	}
	return id, nil
}

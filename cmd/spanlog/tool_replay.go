package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spanlog/spanlog/blockbuilder"
)

func replayTool() tool {
	return tool{
		name:    "replay",
		summary: "rebuild blocks from a range of the log, idempotently, beside the running block-builders",
		run:     runReplay,
	}
}

func runReplay(ctx context.Context, args []string, out, errOut io.Writer) error {
	var (
		spec     blockbuilder.ReplaySpec
		parts    partitionList
		from, to positionFlag
		dryRun   bool
		verbose  bool
		interval time.Duration
	)
	own := flag.NewFlagSet("replay", flag.ContinueOnError)
	own.StringVar(&spec.Tenant, "tenant", "", "Rebuild only this tenant's blocks (default: every tenant's).")
	own.Var(&parts, "partitions", "Partitions to replay, as 0,2,5-7 (default: all).")
	own.Var(&from, "from", "Where to start: earliest, an offset, a time (2026-11-21T12:00:00Z) or a duration ago (2h); moved down to the start of the block holding it (default: earliest).")
	own.Var(&to, "to", "Where to end: latest, an offset, a time or a duration ago; moved up to the end of the block holding it, and never past the block-builders' committed offset (default: that offset).")
	own.BoolVar(&spec.OnlyMissing, "only-missing", false, "Write only blocks that do not exist; by default a block that exists is written again, under the same ID.")
	own.BoolVar(&dryRun, "dry-run", false, "Show what would be replayed, and replay nothing.")
	own.BoolVar(&verbose, "verbose", false, "Log every block written, and every block left to another that holds it.")
	own.DurationVar(&interval, "progress-interval", 5*time.Second, "Time between progress lines when the output is not a terminal (a terminal gets progress bars).")
	cfg, err := parseToolFlags("replay", "replay [-tenant=T] [-partitions=0,1] [-from=WHERE] [-to=WHERE] [-dry-run] [-config.file=FILE] [server flags]", own, args, errOut)
	if err != nil {
		return err
	}
	spec.Partitions, spec.From, spec.To = parts, from.pos, to.pos
	logger := toolLogger(errOut, verbose)

	kafka, cl, err := toolKafka(ctx, cfg, "spanlog-replay")
	if err != nil {
		return err
	}
	cl.Close() // the replayer has its own; this one only checked the way
	bucket, err := toolBucket(ctx, cfg, logger)
	if err != nil {
		return err
	}
	r, err := blockbuilder.NewReplayer(cfg.BlockBuilder, kafka, cfg.Tenants.Default, bucket, cfg.Querier.Blocklist, logger)
	if err != nil {
		return err
	}
	defer r.Close()
	plan, err := r.Plan(ctx, spec)
	if err != nil {
		return fmt.Errorf("plan the replay: %w", err)
	}
	printReplayPlan(out, plan, kafka.Topic, cfg.BlockBuilder.ConsumerGroup)
	if dryRun || plan.Records() == 0 {
		return nil
	}

	progress := newReplayProgress(out, plan, interval, verbose)
	start := time.Now()
	stats, err := r.Run(ctx, plan, progress)
	progress.finish()
	fmt.Fprintf(out, "replayed %d records (%s) in %v: %d blocks written, %d written again over themselves, %d left to blocks that hold them, %d failed\n",
		stats.Records, humanBytes(stats.Bytes), time.Since(start).Round(time.Millisecond), stats.Written, stats.Replaced, stats.Skipped, stats.Failed)
	switch {
	case errors.Is(err, blockbuilder.ErrBlocksFailed):
		return fmt.Errorf("%w: see the errors above; what fails the same way on a retry is a bug to report", err)
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted; the blocks written are whole, and running the same replay again finishes it")
	case err != nil:
		return fmt.Errorf("%w; the blocks written are whole, and running the same replay again finishes it", err)
	}
	return nil
}

// printReplayPlan shows what plan reads of each partition, and why that
// is not what was asked where it differs.
func printReplayPlan(out io.Writer, plan *blockbuilder.ReplayPlan, topic, group string) {
	tenant := "every tenant"
	if plan.Spec.Tenant != "" {
		tenant = "tenant " + plan.Spec.Tenant
	}
	fmt.Fprintf(out, "replay of %s from topic %s, cut as the block-builders of group %s cut it\n\n", tenant, topic, group)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tFROM\tTO\tRECORDS\tCOMMITTED\tNOTES")
	for _, pr := range plan.Partitions {
		committed := "-"
		if pr.Committed >= 0 {
			committed = fmt.Sprint(pr.Committed)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%s\n", pr.Partition, pr.Start, pr.End, pr.End-pr.Start, committed, strings.Join(pr.Notes, "; "))
	}
	tw.Flush()
	fmt.Fprintf(out, "\n%d records to replay\n", plan.Records())
}

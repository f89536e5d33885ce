package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/tracelog"
)

func offsetsTool() tool {
	return tool{
		name:    "offsets",
		summary: "show the log's offsets, the block-builders' commits and lag, and who holds each partition; offsets reset moves the builders' commits",
		run:     runOffsets,
	}
}

func runOffsets(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) > 0 && args[0] == "reset" {
		return runOffsetsReset(ctx, args[1:], out, errOut)
	}
	var format string
	own := flag.NewFlagSet("offsets", flag.ContinueOnError)
	own.StringVar(&format, "o", "table", "Output: table, or json.")
	cfg, err := parseToolFlags("offsets", "offsets [-o=table|json] [-config.file=FILE] [server flags]\n       spanlog offsets reset -h", own, args, errOut)
	if err != nil {
		return err
	}
	if format != "table" && format != "json" {
		return fmt.Errorf("-o=%s: want table or json", format)
	}
	kafka, cl, err := toolKafka(ctx, cfg, "spanlog-offsets")
	if err != nil {
		return err
	}
	defer cl.Close()
	report, err := readOffsets(ctx, cl, kafka.Topic, cfg.BlockBuilder.ConsumerGroup, cfg.Querier.Group)
	if err != nil {
		return err
	}
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	report.print(out)
	return nil
}

// offsetsReport is where the log and its readers stand.
type offsetsReport struct {
	Topic      string            `json:"topic"`
	Builders   groupReport       `json:"blockBuilders"`
	Queriers   groupReport       `json:"queriers"`
	Partitions []partitionReport `json:"partitions"`
}

type groupReport struct {
	Group   string                 `json:"group"`
	Members []tracelog.GroupMember `json:"members"`
}

type partitionReport struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"startOffset"`
	End       int64 `json:"endOffset"`
	// Committed is the block-builders' committed offset: the log below
	// it is in blocks. Nil when they committed nothing.
	Committed *int64 `json:"committedOffset,omitempty"`
	// Lag is what is not in blocks yet: from the commit (or the log's
	// start) to the end.
	Lag int64 `json:"lag"`
	// QueriersCommitted is the queriers' committed offset, nil when they
	// committed none (they commit none: a live tail starts at the
	// builders' committed offset).
	QueriersCommitted *int64 `json:"queriersCommittedOffset,omitempty"`
	Builder           string `json:"builder,omitempty"` // the member holding it
	Querier           string `json:"querier,omitempty"`
}

func readOffsets(ctx context.Context, cl *kgo.Client, topic, buildersGroup, queriersGroup string) (*offsetsReport, error) {
	starts, err := tracelog.StartOffsets(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	ends, err := tracelog.EndOffsets(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	r := &offsetsReport{Topic: topic, Builders: groupReport{Group: buildersGroup}, Queriers: groupReport{Group: queriersGroup}}
	committed := make(map[string]map[int32]int64)
	holders := make(map[string]map[int32]string)
	for _, g := range []*groupReport{&r.Builders, &r.Queriers} {
		if committed[g.Group], err = tracelog.CommittedOffsets(ctx, cl, g.Group, topic); err != nil {
			return nil, err
		}
		if g.Members, err = tracelog.GroupMembers(ctx, cl, g.Group, topic); err != nil {
			return nil, err
		}
		holders[g.Group] = make(map[int32]string)
		for _, m := range g.Members {
			for _, p := range m.Partitions {
				holders[g.Group][p] = memberName(m)
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(ends)) {
		pr := partitionReport{Partition: p, Start: starts[p], End: ends[p],
			Builder: holders[buildersGroup][p], Querier: holders[queriersGroup][p]}
		from := starts[p]
		if c, ok := committed[buildersGroup][p]; ok {
			pr.Committed = &c
			from = max(c, from)
		}
		pr.Lag = max(0, ends[p]-from)
		if c, ok := committed[queriersGroup][p]; ok {
			pr.QueriersCommitted = &c
		}
		r.Partitions = append(r.Partitions, pr)
	}
	return r, nil
}

func memberName(m tracelog.GroupMember) string {
	return strings.TrimPrefix(m.ClientID+"@"+strings.TrimPrefix(m.Host, "/"), "@")
}

func (r *offsetsReport) print(out io.Writer) {
	fmt.Fprintf(out, "topic %s; block-builders: group %s, %d members; queriers: group %s, %d members\n\n",
		r.Topic, r.Builders.Group, len(r.Builders.Members), r.Queriers.Group, len(r.Queriers.Members))
	queriersCommit := slices.ContainsFunc(r.Partitions, func(p partitionReport) bool { return p.QueriersCommitted != nil })
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	header := "PARTITION\tLOG START\tLOG END\tBUILDERS COMMITTED\tLAG\tBUILDER\tQUERIER"
	if queriersCommit {
		header += "\tQUERIERS COMMITTED"
	}
	fmt.Fprintln(tw, header)
	var lag int64
	for _, p := range r.Partitions {
		lag += p.Lag
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%d\t%s\t%s", p.Partition, p.Start, p.End, offsetString(p.Committed), p.Lag, dash(p.Builder), dash(p.Querier))
		if queriersCommit {
			fmt.Fprintf(tw, "\t%s", offsetString(p.QueriersCommitted))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "total\t\t\t\t%d\t\t\n", lag)
	tw.Flush()
	fmt.Fprintf(out, "\nLAG is what is not in blocks yet: from the builders' committed offset to the log's end.\n")
	if !queriersCommit {
		fmt.Fprintf(out, "Queriers commit no offsets: each live tail starts at the builders' committed offset and\n"+
			"reads to the log's end (its lag: spanlog_querier_live_tail_lag_records on each querier).\n")
	}
}

func offsetString(o *int64) string {
	if o == nil {
		return "-"
	}
	return fmt.Sprint(*o)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runOffsetsReset(ctx context.Context, args []string, out, errOut io.Writer) error {
	var (
		to     positionFlag
		parts  partitionList
		dryRun bool
	)
	own := flag.NewFlagSet("offsets reset", flag.ContinueOnError)
	own.Var(&to, "to", "Where the block-builders resume: earliest, latest, an offset, a time (2026-11-21T12:00:00Z) or a duration ago (2h). Required.")
	own.Var(&parts, "partitions", "Partitions to reset, as 0,2,5-7 (default: all).")
	own.BoolVar(&dryRun, "dry-run", false, "Show what would be done, and do nothing.")
	cfg, err := parseToolFlags("offsets reset", "offsets reset -to=WHERE [-partitions=0,1] [-dry-run] [-config.file=FILE] [server flags]", own, args, errOut)
	if err != nil {
		return err
	}
	if to.pos.IsZero() {
		return errors.New("-to is required: earliest, latest, an offset, a time (2026-11-21T12:00:00Z) or a duration ago (2h)")
	}
	kafka, cl, err := toolKafka(ctx, cfg, "spanlog-offsets")
	if err != nil {
		return err
	}
	defer cl.Close()
	group := cfg.BlockBuilder.ConsumerGroup
	plan, err := planReset(ctx, cl, kafka.Topic, group, to.pos, parts)
	if err != nil {
		return err
	}
	plan.print(out)
	members, err := tracelog.GroupMembers(ctx, cl, group, kafka.Topic)
	if err != nil {
		return err
	}
	if len(members) > 0 {
		return refusal(&tracelog.GroupNotEmptyError{Group: group, Members: members}, dryRun)
	}
	if dryRun {
		fmt.Fprintln(out, "dry run: nothing changed; run again without -dry-run to reset")
		return nil
	}
	if err := tracelog.CommitGroupOffsets(ctx, cl, group, kafka.Topic, plan.offsets()); err != nil {
		var notEmpty *tracelog.GroupNotEmptyError
		if errors.As(err, &notEmpty) {
			return refusal(notEmpty, false)
		}
		return err
	}
	fmt.Fprintf(out, "group %s reset: block-builders started now resume at the offsets above\n", group)
	return nil
}

// refusal says why offsets cannot be reset now, and what to do.
func refusal(err *tracelog.GroupNotEmptyError, dryRun bool) error {
	what := "cannot reset"
	if dryRun {
		what = "a reset would be refused now"
	}
	return fmt.Errorf("%s: %v, and they commit over any reset. Stop every block-builder "+
		"(scale the block-builder deployment to 0, or stop the spanlog processes of -target=block-builder or all), "+
		"wait until `spanlog offsets` shows the group without members (a builder killed without leaving stays in it "+
		"for block-builder.session-timeout), then run the reset again", what, err)
}

// resetPlan is what a reset moves, per partition.
type resetPlan struct {
	group string
	to    tracelog.Position
	rows  []resetRow
}

type resetRow struct {
	partition         int32
	start, end        int64
	committed, target int64 // committed -1: none
}

func planReset(ctx context.Context, cl *kgo.Client, topic, group string, to tracelog.Position, parts []int32) (*resetPlan, error) {
	starts, err := tracelog.StartOffsets(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	ends, err := tracelog.EndOffsets(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	committed, err := tracelog.CommittedOffsets(ctx, cl, group, topic)
	if err != nil {
		return nil, err
	}
	targets, err := to.Resolve(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		parts = slices.Sorted(maps.Keys(ends))
	}
	plan := &resetPlan{group: group, to: to}
	for _, p := range parts {
		end, ok := ends[p]
		if !ok {
			return nil, fmt.Errorf("partition %d does not exist: topic %s has partitions 0 to %d", p, topic, len(ends)-1)
		}
		row := resetRow{partition: p, start: starts[p], end: end, committed: -1, target: targets[p]}
		if c, ok := committed[p]; ok {
			row.committed = c
		}
		if row.target < row.start || row.target > row.end {
			return nil, fmt.Errorf("offset %d is outside partition %d, which holds offsets %d to %d", row.target, p, row.start, row.end)
		}
		plan.rows = append(plan.rows, row)
	}
	return plan, nil
}

func (p *resetPlan) offsets() map[int32]int64 {
	out := make(map[int32]int64)
	for _, r := range p.rows {
		out[r.partition] = r.target
	}
	return out
}

// print shows each partition's move, and what it means for the blocks.
func (p *resetPlan) print(out io.Writer) {
	fmt.Fprintf(out, "reset of group %s to %s\n\n", p.group, p.to)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLOG START\tLOG END\tCOMMITTED\tNEW\tCHANGE")
	var back, skipped int64
	for _, r := range p.rows {
		change := "none"
		switch from := max(r.committed, r.start); {
		case r.target < from:
			change = fmt.Sprintf("%d records read again", from-r.target)
			back += from - r.target
		case r.target > from:
			change = fmt.Sprintf("%d records skipped", r.target-from)
			skipped += r.target - from
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%d\t%s\n", r.partition, r.start, r.end, offsetString(committedPtr(r.committed)), r.target, change)
	}
	tw.Flush()
	fmt.Fprintln(out)
	if back > 0 {
		fmt.Fprintf(out, "The builders will build blocks again from the new offsets. Blocks of ranges that blocks\n"+
			"hold already may overlap them; readers and the compactor keep each span once. To rebuild\n"+
			"blocks without moving the builders, and cut where the blocks are cut, use spanlog replay.\n")
	}
	if skipped > 0 {
		fmt.Fprintf(out, "%d records will never reach a block, and queriers stop serving them once their live\n"+
			"tails move past them; build their blocks with spanlog replay over the offsets skipped\n"+
			"(-partitions=N -from=COMMITTED -to=NEW) once the reset is done.\n", skipped)
	}
}

func committedPtr(c int64) *int64 {
	if c < 0 {
		return nil
	}
	return &c
}

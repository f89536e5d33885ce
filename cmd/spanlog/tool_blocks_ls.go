package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/blocklist"
	"github.com/spanlog/spanlog/limits"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// States of a block in spanlog blocks ls.
const (
	// stateLive: queriers read it.
	stateLive = "live"
	// stateSuperseded: another block holds every span of it (a merge of
	// it, or a replay over its offsets); queriers skip it, and the
	// compactor deletes it a deletion grace after that block appeared.
	stateSuperseded = "superseded"
	// stateExpired: past its tenant's retention; queriers skip it, and
	// the compactor deletes it a deletion grace later.
	stateExpired = "expired"
	// stateUnreadable: its meta cannot be used; nothing reads it, and
	// nothing deletes it.
	stateUnreadable = "unreadable"
	// stateNoMeta: data without a meta, which is no block: one being
	// written, or the leftover of a crash, which the compactor removes.
	stateNoMeta = "no meta"
)

// blockListing is what spanlog blocks ls prints.
type blockListing struct {
	Tenant string `json:"tenant"`
	// Retention is the tenant's block retention; 0s keeps blocks for ever.
	Retention string `json:"retention"`
	// Index is the tenant's index as the queriers read it; nil when the
	// compactor has written none.
	Index  *indexSummary `json:"index"`
	Blocks []blockEntry  `json:"blocks"`
}

type indexSummary struct {
	BuiltAt time.Time `json:"builtAt"`
	Blocks  int       `json:"blocks"`
	// Committed is, per partition, the offset up to which the index
	// holds every block.
	Committed map[int32]int64 `json:"committed"`
	// Error is why the index cannot be read, if it cannot.
	Error string `json:"error,omitempty"`
}

// blockEntry is one block of the listing: its meta, when it has one
// that can be used, and its state.
type blockEntry struct {
	ID uuid.UUID `json:"blockID"`
	*schema.BlockMeta
	State string `json:"state"`
	// SupersededBy is a block that holds every span of this one.
	SupersededBy *uuid.UUID `json:"supersededBy,omitempty"`
	// DeletableAfter is when the compactor deletes the block.
	DeletableAfter *time.Time `json:"deletableAfter,omitempty"`
	// Indexed says the tenant's index lists the block.
	Indexed bool `json:"indexed"`
	// Problem says what is wrong with an unreadable block.
	Problem string `json:"problem,omitempty"`
}

// list prints the tenant's blocks.
func (c *blocksCommand) list(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("ls takes no arguments, got %q (-tenant names the tenant)", args)
	}
	l, err := c.listBlocks(ctx, time.Now())
	if err != nil {
		return err
	}
	if len(l.Blocks) == 0 {
		c.noBlocks(ctx)
	}
	if c.out.json {
		return c.out.printJSON(l)
	}
	c.printListing(l)
	return nil
}

// listBlocks lists the tenant's blocks as the compactor sees them: every
// block folder of the bucket, in the states the blocklist's rules give
// them at now.
func (c *blocksCommand) listBlocks(ctx context.Context, now time.Time) (*blockListing, error) {
	lim, err := limits.NewOverrides(c.cfg.Limits, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	retention := lim.BlockRetention(c.tenant, c.cfg.Compactor.BlockRetention)
	bl, err := blocklist.New(blocklist.DefaultConfig(), c.bucket,
		blocklist.Options{Retention: func(string) time.Duration { return retention }},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	// Without the index: a listing, which finds every block.
	if err := bl.Refresh(ctx, c.tenant, nil); err != nil {
		return nil, fmt.Errorf("list the blocks of tenant %s: %w", c.tenant, err)
	}
	l := &blockListing{Tenant: c.tenant, Retention: retention.String(), Blocks: []blockEntry{}}
	indexed := make(map[uuid.UUID]bool)
	switch x, err := block.ReadIndex(ctx, c.bucket, c.tenant); {
	case err == nil:
		l.Index = &indexSummary{BuiltAt: x.BuiltAt, Blocks: len(x.Metas), Committed: x.Committed}
		for _, m := range x.Metas {
			indexed[m.BlockID] = true
		}
	case !objstore.IsNotExist(err):
		l.Index = &indexSummary{Error: err.Error()}
	}

	read := make(map[uuid.UUID]bool)
	for _, m := range bl.Metas(c.tenant) {
		read[m.BlockID] = true
	}
	supersededBy := bl.SupersededBy(c.tenant)
	visible := make(map[uuid.UUID]time.Time) // when a superseding block's meta was written
	grace := c.cfg.Compactor.DeletionGrace
	known := make(map[uuid.UUID]bool)
	for _, m := range bl.Known(c.tenant) {
		known[m.BlockID] = true
		e := blockEntry{ID: m.BlockID, BlockMeta: m, State: stateLive, Indexed: indexed[m.BlockID]}
		switch by := supersededBy[m.BlockID]; {
		case read[m.BlockID]:
		case retention > 0 && blocklist.Expired(m, now.Add(-retention)):
			e.State = stateExpired
			after := m.MaxEnd.Add(retention + grace).UTC()
			e.DeletableAfter = &after
		case by != nil:
			e.State, e.SupersededBy = stateSuperseded, &by.BlockID
			since, ok := visible[by.BlockID]
			if !ok {
				attrs, err := c.bucket.Attributes(ctx, block.MetaName(c.tenant, by.BlockID))
				if err != nil && !objstore.IsNotExist(err) {
					return nil, err
				}
				since = attrs.LastModified
				visible[by.BlockID] = since
			}
			if !since.IsZero() {
				after := since.Add(grace).UTC()
				e.DeletableAfter = &after
			}
		}
		l.Blocks = append(l.Blocks, e)
	}

	// Folders whose meta the blocklist skipped, or that have none.
	ids, err := block.ListBlocks(ctx, c.bucket, c.tenant)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if known[id] {
			continue
		}
		e := blockEntry{ID: id, Indexed: indexed[id]}
		switch _, err := block.ReadMeta(ctx, c.bucket, c.tenant, id); {
		case err == nil:
			// Written since the listing: the next one sees it.
			continue
		case objstore.IsNotExist(err):
			e.State = stateNoMeta
		case errors.Is(err, block.ErrInvalidMeta):
			e.State, e.Problem = stateUnreadable, err.Error()
		default:
			return nil, err
		}
		l.Blocks = append(l.Blocks, e)
	}
	slices.SortFunc(l.Blocks, compareEntries)
	return l, nil
}

// compareEntries orders blocks by partition and offsets, and those
// without a meta last.
func compareEntries(a, b blockEntry) int {
	if (a.BlockMeta == nil) != (b.BlockMeta == nil) {
		if a.BlockMeta == nil {
			return 1
		}
		return -1
	}
	if a.BlockMeta != nil && len(a.KafkaRanges) > 0 && len(b.KafkaRanges) > 0 {
		ra, rb := a.KafkaRanges[0], b.KafkaRanges[0]
		if c := cmp.Or(cmp.Compare(ra.Partition, rb.Partition), cmp.Compare(ra.Start, rb.Start),
			cmp.Compare(a.CompactionLevel, b.CompactionLevel)); c != 0 {
			return c
		}
	}
	return strings.Compare(a.ID.String(), b.ID.String())
}

// noBlocks tells, on errOut, where the tenant's blocks were looked for,
// and which tenants have some: most often -tenant is wrong.
func (c *blocksCommand) noBlocks(ctx context.Context) {
	tenants, err := block.ListTenants(ctx, c.bucket)
	switch {
	case err != nil:
		fmt.Fprintf(c.errOut, "tenant %s has no blocks in %s\n", c.tenant, c.where())
	case len(tenants) == 0:
		fmt.Fprintf(c.errOut, "no tenant has blocks in %s: is it the server's storage? (block-builders write a block every block-builder.cycle-duration)\n", c.where())
	default:
		fmt.Fprintf(c.errOut, "tenant %s has no blocks in %s; tenants with blocks: %s (-tenant)\n", c.tenant, c.where(), strings.Join(tenants, ", "))
	}
}

// where names the bucket the command reads.
func (c *blocksCommand) where() string {
	s := c.cfg.Storage
	if s.Backend == "s3" {
		where := fmt.Sprintf("S3 bucket %s at %s", s.S3.Bucket, s.S3.Endpoint)
		if s.S3.Prefix != "" {
			where += ", prefix " + s.S3.Prefix
		}
		return where
	}
	return "directory " + s.Local.Path
}

func (c *blocksCommand) printListing(l *blockListing) {
	o := c.out
	var live, spans, bytes int64
	for _, e := range l.Blocks {
		if e.State == stateLive {
			live++
			spans += e.TotalSpans
			bytes += e.Size
		}
	}
	o.printf("tenant %s in %s: %d blocks, %d live (%d spans, %s); retention %s\n",
		l.Tenant, c.where(), len(l.Blocks), live, spans, humanBytes(bytes), l.Retention)
	switch x := l.Index; {
	case x == nil:
		o.printf("index: none yet (the compactor writes it; queriers list the bucket meanwhile)\n")
	case x.Error != "":
		o.printf("index: unreadable (queriers list the bucket instead): %s\n", x.Error)
	default:
		o.printf("index: built %s, lists %d blocks, complete to offsets %s\n", x.BuiltAt.UTC().Format(timeLayout), x.Blocks, formatCommitted(x.Committed))
	}
	if len(l.Blocks) == 0 {
		return
	}
	t := newTable(9, "BLOCK", "PARTITION", "OFFSETS", "LEVEL", "START", "END", "SPANS", "TRACES", "SIZE", "STATE")
	for _, e := range l.Blocks {
		if e.BlockMeta == nil {
			t.add(e.ID.String(), "", "", "", "", "", "", "", "", describeState(e))
			continue
		}
		partition := ""
		if len(e.KafkaRanges) > 0 {
			partition = strconv.Itoa(int(e.KafkaRanges[0].Partition))
		}
		start, end := formatSpan(e.MinStart, e.MaxEnd)
		t.add(e.ID.String(), partition, formatOffsets(e.KafkaRanges), strconv.Itoa(e.CompactionLevel), start, end,
			strconv.FormatInt(e.TotalSpans, 10), strconv.FormatInt(e.TotalTraces, 10), humanBytes(e.Size), describeState(e))
	}
	t.print(o)
}

// describeState is the STATE cell of a block.
func describeState(e blockEntry) string {
	var s string
	switch e.State {
	case stateLive:
		s = stateLive
		if !e.Indexed {
			s += " (not in the index yet)"
		}
	case stateSuperseded:
		s = "superseded by " + e.SupersededBy.String()
	case stateUnreadable:
		s = "unreadable: " + e.Problem
	case stateNoMeta:
		s = "no meta: being written, or a leftover the compactor removes"
	default:
		s = e.State
	}
	if e.DeletableAfter != nil {
		s += ", deletable from " + e.DeletableAfter.Format(timeLayout)
	}
	return s
}

// formatOffsets formats ranges as first..last offsets: [100, 250) is
// 100..249.
func formatOffsets(ranges []schema.OffsetRange) string {
	parts := make([]string, len(ranges))
	for i, r := range ranges {
		parts[i] = fmt.Sprintf("%d..%d", r.Start, r.End-1)
	}
	return strings.Join(parts, ",")
}

// formatCommitted formats an index's committed offsets, by partition.
func formatCommitted(committed map[int32]int64) string {
	if len(committed) == 0 {
		return "none"
	}
	partitions := make([]int32, 0, len(committed))
	for p := range committed {
		partitions = append(partitions, p)
	}
	slices.Sort(partitions)
	parts := make([]string, len(partitions))
	for i, p := range partitions {
		parts[i] = fmt.Sprintf("%d:%d", p, committed[p])
	}
	return strings.Join(parts, " ")
}

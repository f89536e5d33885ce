package blockbuilder

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/schema"
)

// How a tenant block is decoded for writing.
//
// Decoded, a span takes several times its bytes in the log (rows, their
// attributes and strings), and a block's spans must be sorted by trace ID
// before the first is encoded. A tenant block whose records add up to at
// most MaxPartBytes is decoded whole. A larger one is decoded in parts:
// the trace IDs and sizes of its spans are read first, without decoding
// them (schema.ScanRecordSpans), summed per trace and record (a record
// holds a few traces, each in many spans: the sort that follows sorts
// those sums, not the spans), and cut into ranges of trace IDs of at
// most MaxPartBytes of spans each (a trace is never cut). Then, range after
// range, each record holding spans of the range is decompressed again and
// only those spans are decoded, straight from its value, their trace IDs
// and the number of spans of each resource spans taken from the scan
// rather than read again, so that a resource spans without spans of the
// range is stepped over (schema.RowDecoder.AppendRange), then sorted and
// encoded into the block's file (block.Builder.EndPart), which is the
// same, byte for byte, as the block decoded whole, wherever the ranges
// are cut. So a flush slot holds one part's spans decoded, whatever the
// size of the block.
//
// Decompressing a record once per part it holds spans of is what decoding
// in parts costs most beyond the whole decode (a record of 100 traces
// holds spans of every part). Keeping records decompressed would take
// their bytes in the log, beyond the flush slot's bound; splitting each
// into one record per part, compressed again, would hold the block's
// records twice, and s2 compresses at about half the speed it
// decompresses: a loss for records of a few traces, which hold spans of
// 2 or 3 parts.
//
// A record that does not decode is skipped as when decoded whole: the
// decodes of its ranges decode every byte of it once, so one of them fails
// exactly when its whole decode would. The block is then started again
// without it, so that what is written never depends on how far the first
// attempt went.

// decoder holds the buffers one flush slot decodes with.
type decoder struct {
	buf    []byte // a record's value, decompressed
	traces []traceRef
	// ids are the trace IDs of the spans of the tenant block's records,
	// in order, those of record i from idsFrom[i] to idsFrom[i+1]; none
	// for a record decoded whole. resourceSpans are the number of spans
	// of each of their resource spans, likewise (schema.SpanRange).
	ids                    [][16]byte
	idsFrom                []int32
	resourceSpans, resFrom []int32
	seen                   []bool // per record, decoded in a part already
}

// traceRef is the spans of a trace in a record of a tenant block being
// planned in parts, or some of them: a record's spans of a trace may be
// summed in several.
type traceRef struct {
	traceID [16]byte
	size    int32 // the spans' encoded bytes
	record  int32 // index in the tenant block's records
}

// traceLookBack is how many of a record's traceRefs a span's trace is
// looked for in, the latest first. The load generator's records hold 2
// or 3 traces, a collector's batches split by the distributor a few
// more, their spans grouped by trace in each scope; a trace not found
// only costs a traceRef more.
const traceLookBack = 8

// addSpan sums a span of id, of size bytes, in record rec, whose
// traceRefs start at from.
func (d *decoder) addSpan(id [16]byte, size int, rec int32, from int) {
	for i := len(d.traces) - 1; i >= max(from, len(d.traces)-traceLookBack); i-- {
		if t := &d.traces[i]; t.traceID == id {
			t.size = int32(min(int64(t.size)+int64(size), 1<<31-1))
			return
		}
	}
	d.traces = append(d.traces, traceRef{traceID: id, size: int32(min(size, 1<<31-1)), record: rec})
}

// part is a range of trace IDs of a tenant block and the records that
// hold spans of it, in offset order.
type part struct {
	lo, hi  [16]byte
	records []int32
}

// value returns r's value, decompressed into d's buffer.
func (d *decoder) value(r *record) ([]byte, error) {
	v, err := r.value(d.buf)
	if err == nil {
		d.buf = v
	}
	return v, err
}

// build decodes tb's records into a block. Records that do not decode are
// skipped, counted, and dropped from tb. It reports false, having built
// nothing, when ctx ends or a rebalance waits on the builder meanwhile.
func (b *Builder) build(ctx context.Context, rebalance <-chan struct{}, d *decoder, tb *tenantBlock) (*block.Builder, bool) {
	var size int64
	for _, r := range tb.records {
		size += r.size
	}
	if size <= b.cfg.MaxPartBytes {
		b.metrics.partsDecoded.Inc()
		return b.buildWhole(d, tb), true
	}
	// Records the scan cannot read, but pdata can: decoded whole in
	// each part, and their spans outside its range dropped.
	whole := make(map[*record]bool)
	for {
		bb, restart, ok := b.buildInParts(ctx, rebalance, d, tb, whole)
		if !restart {
			return bb, ok
		}
	}
}

// buildWhole decodes every record of tb into one part.
func (b *Builder) buildWhole(d *decoder, tb *tenantBlock) *block.Builder {
	bb := block.NewBuilder(tb.tenant, b.cfg.Block)
	kept := tb.records[:0]
	for _, r := range tb.records {
		if err := d.addAll(bb, r); err != nil {
			b.metrics.skipped.Add(r.position(), err)
			continue
		}
		kept = append(kept, r)
	}
	clear(tb.records[len(kept):])
	tb.records = kept
	return bb
}

// addAll adds r's spans to bb, straight from its value (see
// schema.RowDecoder). A record without spans is refused, as by
// schema.DecodeSpans.
func (d *decoder) addAll(bb *block.Builder, r *record) error {
	v, err := d.value(r)
	if err != nil {
		return err
	}
	before := bb.Spans()
	if err := bb.AddValue(v); err != nil {
		return fmt.Errorf("record at partition %d offset %d: %w", r.partition, r.offset, err)
	}
	if bb.Spans() == before {
		return fmt.Errorf("record at partition %d offset %d: %w", r.partition, r.offset, schema.ErrNoSpans)
	}
	return nil
}

// decodeAll returns the spans of r, through pdata.
func (d *decoder) decodeAll(r *record) (ptrace.Traces, error) {
	v, err := d.value(r)
	if err != nil {
		return ptrace.Traces{}, err
	}
	td, err := schema.DecodeSpans(v)
	if err != nil {
		return ptrace.Traces{}, fmt.Errorf("record at partition %d offset %d: %w", r.partition, r.offset, err)
	}
	return td, nil
}

// buildInParts decodes tb in parts. It reports restart when a record
// turned out not to decode, after dropping it from tb, or to decode only
// whole, after adding it to whole.
func (b *Builder) buildInParts(ctx context.Context, rebalance <-chan struct{}, d *decoder, tb *tenantBlock, whole map[*record]bool) (bb *block.Builder, restart, ok bool) {
	parts := b.planParts(d, tb, whole)
	bb = block.NewBuilder(tb.tenant, b.cfg.Block)
	for _, p := range parts {
		if ctx.Err() != nil || waiting(rebalance) {
			return nil, false, false
		}
		if i, err := d.addPart(bb, tb, p, whole); err != nil {
			b.refuse(d, tb, i, whole)
			return nil, true, false
		}
		b.metrics.partsDecoded.Inc()
		if err := bb.EndPart(); err != nil {
			break // it stays in bb, and Write returns it
		}
	}
	return bb, false, true
}

// addPart adds the spans of part p of tb to bb. It stops at the first
// record that fails, and returns its index.
func (d *decoder) addPart(bb *block.Builder, tb *tenantBlock, p part, whole map[*record]bool) (int32, error) {
	for _, i := range p.records {
		r := tb.records[i]
		rng := schema.SpanRange{Lo: p.lo, Hi: p.hi, First: !d.seen[i],
			TraceIDs:      d.ids[d.idsFrom[i]:d.idsFrom[i+1]],
			ResourceSpans: d.resourceSpans[d.resFrom[i]:d.resFrom[i+1]]}
		d.seen[i] = true
		if err := d.addRange(bb, r, rng, whole[r]); err != nil {
			return i, err
		}
	}
	return 0, nil
}

// refuse handles record i of tb, whose decode in a part failed: it is
// skipped if it does not decode whole either, and decoded whole from then
// on if it does, which only the scan reading it otherwise than pdata would
// cause.
func (b *Builder) refuse(d *decoder, tb *tenantBlock, i int32, whole map[*record]bool) {
	r := tb.records[i]
	_, err := d.decodeAll(r)
	if err == nil {
		whole[r] = true
		return
	}
	b.metrics.skipped.Add(r.position(), err)
	tb.records = slices.Delete(tb.records, int(i), int(i)+1)
}

// addRange adds r's spans in rng to bb. A record in whole is decoded
// whole, through pdata, and its spans outside the range dropped.
func (d *decoder) addRange(bb *block.Builder, r *record, rng schema.SpanRange, whole bool) error {
	if whole {
		td, err := d.decodeAll(r)
		if err != nil {
			return err
		}
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				ss.Spans().RemoveIf(func(s ptrace.Span) bool { return !inRange(s.TraceID(), rng.Lo, rng.Hi) })
			}
		}
		bb.Add(td)
		return nil
	}
	v, err := d.value(r)
	if err == nil {
		err = bb.AddRange(v, rng)
	}
	if err != nil {
		return fmt.Errorf("record at partition %d offset %d: %w", r.partition, r.offset, err)
	}
	return nil
}

func inRange(id, lo, hi [16]byte) bool {
	return bytes.Compare(id[:], lo[:]) >= 0 && bytes.Compare(id[:], hi[:]) <= 0
}

// planParts reads the trace IDs and sizes of tb's spans and cuts them into
// parts, none of them decoded yet. Records that do not decode are
// skipped, counted and dropped from tb; those the scan cannot read but
// pdata can are added to whole.
func (b *Builder) planParts(d *decoder, tb *tenantBlock, whole map[*record]bool) []part {
	d.traces, d.ids, d.resourceSpans = d.traces[:0], d.ids[:0], d.resourceSpans[:0]
	d.idsFrom, d.resFrom = append(d.idsFrom[:0], 0), append(d.resFrom[:0], 0)
	kept := tb.records[:0]
	for _, r := range tb.records {
		rec := int32(len(kept))
		if err := d.scan(r, rec, whole); err != nil {
			b.metrics.skipped.Add(r.position(), err)
			continue
		}
		kept = append(kept, r)
		d.idsFrom = append(d.idsFrom, int32(len(d.ids)))
		d.resFrom = append(d.resFrom, int32(len(d.resourceSpans)))
	}
	clear(tb.records[len(kept):])
	tb.records = kept
	d.seen = slices.Grow(d.seen[:0], len(kept))[:len(kept)]
	clear(d.seen)

	traces := d.traces
	slices.SortFunc(traces, func(a, b traceRef) int {
		return cmp.Or(bytes.Compare(a.traceID[:], b.traceID[:]), cmp.Compare(a.record, b.record))
	})
	// The ranges cover every trace ID, from the lowest to the highest, so
	// that each record is decoded with first set in its first part.
	var parts []part
	var bytesIn int64
	for i, t := range traces {
		if i == 0 || bytesIn+int64(t.size) > b.cfg.MaxPartBytes && t.traceID != traces[i-1].traceID {
			parts = append(parts, part{lo: t.traceID})
			bytesIn = 0
		}
		bytesIn += int64(t.size)
		p := &parts[len(parts)-1]
		if n := len(p.records); n == 0 || p.records[n-1] != t.record {
			p.records = append(p.records, t.record)
		}
	}
	if len(parts) > 0 {
		parts[0].lo = [16]byte{}
		parts[len(parts)-1].hi = [16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	for i := range parts {
		// Every range but the last ends where the next begins.
		if i+1 < len(parts) {
			parts[i].hi = before(parts[i+1].lo)
		}
		slices.Sort(parts[i].records)
		parts[i].records = slices.Compact(parts[i].records)
	}
	return parts
}

// before returns the trace ID just below id, which is not the lowest.
func before(id [16]byte) [16]byte {
	for i := len(id) - 1; i >= 0; i-- {
		id[i]--
		if id[i] != 0xff {
			break
		}
	}
	return id
}

// scan sums the spans of r, record rec of its tenant block, per trace
// into d.traces, and appends their trace IDs to d.ids and the number of
// spans of its resource spans to d.resourceSpans. A record the scan
// cannot read is decoded whole to tell whether it decodes at all; if it
// does, it goes in whole.
func (d *decoder) scan(r *record, rec int32, whole map[*record]bool) error {
	from := len(d.traces)
	if !whole[r] {
		v, err := d.value(r)
		if err != nil {
			return err
		}
		ids, res := len(d.ids), len(d.resourceSpans)
		err = schema.ScanRecordSpans(v, func(id [16]byte, size int) {
			d.addSpan(id, size, rec, from)
			d.ids = append(d.ids, id)
		}, func(spans int) {
			d.resourceSpans = append(d.resourceSpans, int32(spans))
		})
		if err == nil {
			return nil
		}
		d.traces, d.ids, d.resourceSpans = d.traces[:from], d.ids[:ids], d.resourceSpans[:res]
	}
	td, err := d.decodeAll(r)
	if err != nil {
		return err
	}
	whole[r] = true
	size := int(r.size / int64(td.SpanCount()))
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				d.addSpan(s.TraceID(), size, rec, from)
			}
		}
	}
	return nil
}

package block

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/schema"
)

// A Discrepancy is one way a block's data disagrees with its meta, or
// with itself.
type Discrepancy struct {
	// Field is what disagrees: a field of the meta as meta.json names it
	// (totalSpans, dataCRC32C, kafkaRanges...), or a part of the data
	// (rows, bloomFilter, summaries).
	Field string `json:"field"`
	// Detail says how, with the values on both sides.
	Detail string `json:"detail"`
}

func (d Discrepancy) String() string { return d.Field + ": " + d.Detail }

// Verification is what Verify found of a block.
type Verification struct {
	// Size and DataCRC32C are those of the data object as read.
	Size       int64  `json:"size"`
	DataCRC32C string `json:"dataCRC32C"`
	// ChecksumChecked says the meta had a checksum to compare with: a
	// block written before checksums existed is checked without.
	ChecksumChecked bool `json:"checksumChecked"`
	// Spans, Traces and RowGroups are counted in the data, as far as it
	// could be read.
	Spans     int64 `json:"spans"`
	Traces    int64 `json:"traces"`
	RowGroups int   `json:"rowGroups"`
	// Discrepancies are empty for a sound block.
	Discrepancies []Discrepancy `json:"discrepancies"`
}

// OK reports whether the block's data matches its meta.
func (v *Verification) OK() bool { return len(v.Discrepancies) == 0 }

func (v *Verification) add(field, format string, args ...any) {
	v.Discrepancies = append(v.Discrepancies, Discrepancy{field, fmt.Sprintf(format, args...)})
}

// Verify reads the whole of block meta describes and reports how its data
// disagrees with the meta: the meta's own consistency (its ID is the one
// its tenant and Kafka ranges derive, its ranges are well formed), the
// data object's size and CRC-32C, and, decoding every row (which checks
// each Parquet page's CRC), the span and trace counts, the time and trace
// ID ranges, the order of the rows, each row group's trace ID bounds and
// bloom filter, and the trace summaries of a format v2 block.
//
// A block whose data cannot be read past some point is reported as such:
// once the object was read whole, whatever fails to decode is taken to
// be the data's fault. Verify returns an error only when the data object
// cannot be read at all, or ctx ends; what it found until then comes
// with it.
func Verify(ctx context.Context, bkt objstore.Bucket, meta *schema.BlockMeta) (*Verification, error) {
	v := &Verification{}
	verifyMeta(v, meta)

	name := DataName(meta.Tenant, meta.BlockID)
	size, crc, err := checksum(ctx, bkt, name)
	switch {
	case objstore.IsNotExist(err):
		v.add("data", "the data object %s does not exist", name)
		return v, nil
	case err != nil:
		return v, fmt.Errorf("verify block %s: %w", meta.BlockID, err)
	}
	v.Size, v.DataCRC32C = size, formatCRC32C(crc)
	if size != meta.Size {
		v.add("size", "the meta says %d bytes, the data object has %d", meta.Size, size)
	}
	if meta.DataCRC32C != "" {
		v.ChecksumChecked = true
		if meta.DataCRC32C != v.DataCRC32C {
			v.add("dataCRC32C", "the meta says %s, the data object sums to %s", meta.DataCRC32C, v.DataCRC32C)
		}
	}

	// Opened at the size the store gives, not the meta's: that may be
	// what is wrong.
	obj, err := bkt.Open(ctx, name)
	if err != nil {
		return v, fmt.Errorf("verify block %s: %w", meta.BlockID, err)
	}
	defer obj.Close()
	// Opened for lookups, which pins the bloom filters: every trace is
	// checked against its group's, which would otherwise be a request.
	r, err := newReader(ctx, meta, obj, forLookups)
	if err != nil {
		if ctx.Err() != nil {
			return v, ctx.Err()
		}
		v.add("data", "not a block's Parquet file: %v", err)
		return v, nil
	}
	v.RowGroups = len(r.groups)
	if f, ok := r.file.Lookup(formatKey); ok && f != meta.Format {
		v.add("format", "the meta says %s, the Parquet footer %s", meta.Format, f)
	}
	if err := verifyRows(ctx, v, r); err != nil {
		return v, fmt.Errorf("verify block %s: %w", meta.BlockID, err)
	}
	return v, nil
}

// formatKey is the footer's key-value metadata naming the block format.
const formatKey = "spanlog.format"

// verifyMeta checks what the meta says of itself.
func verifyMeta(v *Verification, m *schema.BlockMeta) {
	if len(m.KafkaRanges) == 0 {
		v.add("kafkaRanges", "none: every block is built from a part of the log")
	}
	for _, r := range m.KafkaRanges {
		if r.Partition < 0 || r.Start < 0 || r.End <= r.Start {
			v.add("kafkaRanges", "partition %d offsets [%d, %d) is not a range of the log", r.Partition, r.Start, r.End)
		}
	}
	if n := len(schema.UnionRanges(m.KafkaRanges)); n != len(m.KafkaRanges) {
		v.add("kafkaRanges", "%d ranges overlap or touch: a merge records them as %d", len(m.KafkaRanges), n)
	}
	// The ID derives from the tenant and the ranges: an edited range, or
	// a meta copied to another block, shows here.
	if id := schema.BlockID(m.Tenant, m.KafkaRanges); id != m.BlockID {
		v.add("kafkaRanges", "tenant %s and these ranges make block ID %s, not %s", m.Tenant, id, m.BlockID)
	}
	if m.MaxEnd.Before(m.MinStart) {
		v.add("endTime", "%s is before startTime %s", stamp(m.MaxEnd), stamp(m.MinStart))
	}
}

// checksum reads object name whole and returns its size and CRC-32C.
func checksum(ctx context.Context, bkt objstore.Bucket, name string) (int64, uint32, error) {
	rc, err := bkt.Get(ctx, name)
	if err != nil {
		return 0, 0, err
	}
	defer rc.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, rc)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", name, err)
	}
	return n, h.Sum32(), nil
}

// rowCheck gathers what the rows say while they are read.
type rowCheck struct {
	v *Verification
	r *Reader

	prev     schema.SpanRow // the row read before, for the order
	trace    []schema.SpanRow
	first    [16]byte
	minStart int64
	maxEnd   int64

	// Per-row faults are counted, and the first of each kind described:
	// a block with one wrong row usually has many.
	faults map[string]*fault
	order  []string // kinds of faults in the order found
}

type fault struct {
	n     int64
	first string
}

func (c *rowCheck) fault(field, format string, args ...any) {
	f := c.faults[field]
	if f == nil {
		f = &fault{first: fmt.Sprintf(format, args...)}
		c.faults[field] = f
		c.order = append(c.order, field)
	}
	f.n++
}

// verifyRows decodes every row of r and compares what they hold with the
// meta.
func verifyRows(ctx context.Context, v *Verification, r *Reader) error {
	c := &rowCheck{v: v, r: r, faults: make(map[string]*fault)}
	cur := r.rows(readBatch)
	defer cur.close()
	group := -1
	for {
		row, err := cur.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// What the rows would add up to is unknown: comparing part
			// of them with the meta would only add noise.
			c.reportFaults()
			v.add("rows", "row %d does not decode, so the counts and ranges of the rows are not compared with the meta: %v", v.Spans, err)
			return nil
		}
		if row == nil {
			break
		}
		newGroup := cur.g != group
		group = cur.g
		c.row(row, group, newGroup)
	}
	c.endTrace()
	c.reportFaults()
	c.compare()
	return nil
}

// row checks one row of row group g, the group's first if newGroup.
func (c *rowCheck) row(row *schema.SpanRow, g int, newGroup bool) {
	v := c.v
	lo, hi := spanTimes(row)
	if v.Spans == 0 {
		c.first, c.minStart, c.maxEnd = row.TraceID, lo, hi
	} else {
		switch cmp := schema.CompareRows(&c.prev, row); {
		case cmp > 0:
			c.fault("rows", "row %d sorts before the row before it (trace %x)", v.Spans, row.TraceID)
		case cmp == 0 && c.prev.SpanID == row.SpanID:
			c.fault("rows", "row %d repeats span %x of trace %x", v.Spans, row.SpanID, row.TraceID)
		}
	}
	c.minStart, c.maxEnd = min(c.minStart, lo), max(c.maxEnd, hi)

	newTrace := v.Spans == 0 || row.TraceID != c.prev.TraceID
	if newTrace {
		c.endTrace()
		v.Traces++
	}
	if newTrace || newGroup {
		b := &c.r.groups[g]
		if bytes.Compare(row.TraceID[:], b.min[:]) < 0 || bytes.Compare(row.TraceID[:], b.max[:]) > 0 {
			c.fault("rowGroupBounds", "row group %d holds trace %x outside the bounds its footer gives, %x to %x", g, row.TraceID, b.min, b.max)
		}
		// A trace the filter rules out is one no lookup finds.
		if maybe, err := c.r.bloomMayHold(g, row.TraceID); err != nil {
			c.fault("bloomFilter", "row group %d: %v", g, err)
		} else if !maybe {
			c.fault("bloomFilter", "row group %d's filter rules out trace %x, which it holds", g, row.TraceID)
		}
	}
	if c.r.meta.Format != schema.BlockFormatV1 {
		switch {
		case newTrace && row.Trace == nil:
			c.fault("summaries", "trace %x has no summary on its first row", row.TraceID)
		case !newTrace && row.Trace != nil:
			c.fault("summaries", "row %d has a summary but is not the first of trace %x", v.Spans, row.TraceID)
		}
	}
	v.Spans++
	c.prev = *row
	c.trace = append(c.trace, *row)
}

// endTrace checks the summary of the trace whose rows were read last
// against those rows.
func (c *rowCheck) endTrace() {
	if len(c.trace) == 0 {
		return
	}
	if got := c.trace[0].Trace; got != nil {
		if want := schema.SummarizeTrace(c.trace); *got != want {
			c.fault("summaries", "trace %x: its summary says %s; its rows make %s", want.ID, describeSummary(got), describeSummary(&want))
		}
	}
	clear(c.trace)
	c.trace = c.trace[:0]
}

func describeSummary(s *schema.TraceSummary) string {
	return fmt.Sprintf("%d spans, %d errors, from %d to %d ns, root span %x %q of %q (parentless %v, start %d)",
		s.Spans, s.Errors, s.Start, s.End, s.Root.SpanID, s.Root.Name, s.Root.Service, s.Root.Parentless, s.Root.Start)
}

// reportFaults adds the faults found in the rows to the discrepancies.
func (c *rowCheck) reportFaults() {
	for _, field := range c.order {
		f := c.faults[field]
		detail := f.first
		if f.n > 1 {
			detail = fmt.Sprintf("%s (and %d more)", f.first, f.n-1)
		}
		c.v.add(field, "%s", detail)
	}
}

// compare compares the counts and ranges of the rows with the meta.
func (c *rowCheck) compare() {
	v, m := c.v, c.r.meta
	if v.Spans != m.TotalSpans {
		v.add("totalSpans", "the meta says %d, the data holds %d", m.TotalSpans, v.Spans)
	}
	if v.Traces != m.TotalTraces {
		v.add("totalTraces", "the meta says %d, the data holds %d", m.TotalTraces, v.Traces)
	}
	if v.Spans == 0 {
		return
	}
	if id := hex.EncodeToString(c.first[:]); id != m.MinTraceID {
		v.add("minTraceID", "the meta says %s, the data's first is %s", m.MinTraceID, id)
	}
	if id := hex.EncodeToString(c.prev.TraceID[:]); id != m.MaxTraceID {
		v.add("maxTraceID", "the meta says %s, the data's last is %s", m.MaxTraceID, id)
	}
	if t := time.Unix(0, c.minStart).UTC(); !t.Equal(m.MinStart) {
		v.add("startTime", "the meta says %s, the earliest span starts at %s", stamp(m.MinStart), stamp(t))
	}
	if t := time.Unix(0, c.maxEnd).UTC(); !t.Equal(m.MaxEnd) {
		v.add("endTime", "the meta says %s, the latest span ends at %s", stamp(m.MaxEnd), stamp(t))
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

package block

import (
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/spanlog/spanlog/schema"
)

// writeBatch is the number of rows handed to the Parquet writer at once.
const writeBatch = 1024

// bloomBufferChunk is the unit of memory the writer keeps each row group's
// bloom filter in until the file ends: about the filter of a full row
// group (20,000 spans at 10 bits).
const bloomBufferChunk = 32 << 10

// rowWriter encodes rows, given to it in block order and each span once,
// as a block's Parquet file, and sums up what the meta says of them. It
// holds one row group's pages and the footer it will write, never the
// file: the builder and the merge of blocks (Compact) both write through
// it, the one from rows in memory, the other from rows streamed out of
// other blocks.
type rowWriter struct {
	out   *countingWriter
	w     *parquet.GenericWriter[schema.SpanRowV3]
	batch []schema.SpanRowV3
	// trace holds the rows of the trace being written until its last
	// row is known: its summary goes on its first row.
	trace []schema.SpanRow
	// resources encodes the rows' resources and scopes.
	resources resourceEncoder

	// What describe puts in the meta.
	spans, traces    int64
	first, last      [16]byte
	minStart, maxEnd int64
}

func newRowWriter(out io.Writer, opts Options) *rowWriter {
	opts = opts.withDefaults()
	cw := &countingWriter{w: out}
	return &rowWriter{
		out:   cw,
		batch: make([]schema.SpanRowV3, 0, writeBatch),
		w: parquet.NewGenericWriter[schema.SpanRowV3](cw,
			levelSchema(opts.CompressionLevel),
			parquet.MaxRowsPerRowGroup(opts.RowsPerRowGroup),
			parquet.PageBufferSize(opts.PageBufferSizeBytes),
			parquet.DictionaryMaxBytes(opts.DictionaryMaxBytes),
			parquet.BloomFilters(parquet.SplitBlockFilter(uint(opts.BloomFilterBitsPerValue), schema.ColumnTraceID)),
			// Every row group's filter together before the footer, rather
			// than each after its row group: a reader opening the block
			// pins them all in one request, not one per row group (35
			// requests to open a block of 32 row groups, then 3).
			parquet.DeferBloomFiltersWithBuffers(parquet.NewChunkBufferPool(bloomBufferChunk)),
			// Declared for other Parquet readers; the rows come in
			// this order.
			parquet.SortingWriterConfig(parquet.SortingColumns(
				parquet.Ascending(schema.ColumnTraceID),
				parquet.Ascending(schema.ColumnStart),
				parquet.Ascending(schema.ColumnSpanID),
			)),
			parquet.KeyValueMetadata("spanlog.format", schema.BlockFormatV3),
			// No minimum and maximum in each page's header: the page
			// index and the row groups' statistics, which readers use,
			// keep theirs. parquet-go reads neither from page headers,
			// and computing them took a second pass over every page's
			// values: 0.3 to 0.5 µs and 2 bytes per span.
			parquet.DataPageStatistics(false),
			// Version 1 pages compress the repetition and definition
			// levels with the values. The attribute columns are mostly
			// levels, in patterns that repeat row after row: a third of
			// the file.
			parquet.DataPageVersion(1),
		),
	}
}

// Write adds row, which must not sort before the row written last. The
// writer keeps a shallow copy of row until its trace and the next batch
// are encoded: the strings and slices row points to must not change
// meanwhile; and it compares the resources and scopes of later rows with
// those of a few earlier ones, so theirs must not change until Close. Both
// writers give it rows whose memory no one writes again: the Builder's
// decoder allocates afresh, and the merge's readers decode into fresh rows.
// Whatever row.Trace says is replaced: the writer summarises each trace
// from the rows it is given.
func (w *rowWriter) Write(row *schema.SpanRow) error {
	lo, hi := spanTimes(row)
	if w.spans == 0 {
		w.first, w.minStart, w.maxEnd = row.TraceID, lo, hi
	}
	if w.spans == 0 || row.TraceID != w.last {
		w.traces++
		if err := w.endTrace(); err != nil {
			return err
		}
	}
	w.last = row.TraceID
	w.minStart, w.maxEnd = min(w.minStart, lo), max(w.maxEnd, hi)
	w.spans++

	w.trace = append(w.trace, *row)
	w.trace[len(w.trace)-1].Trace = nil
	return nil
}

// endTrace puts the summary of the trace held on its first row and moves
// its rows into the batch, encoding each full batch.
func (w *rowWriter) endTrace() error {
	if len(w.trace) == 0 {
		return nil
	}
	summary := schema.SummarizeTrace(w.trace)
	w.trace[0].Trace = &summary
	for i := range w.trace {
		r := &w.trace[i]
		w.batch = append(w.batch, schema.SpanRowV3{})
		w.resources.setRow(&w.batch[len(w.batch)-1], r)
		if len(w.batch) == cap(w.batch) {
			if err := w.flushBatch(); err != nil {
				return err
			}
		}
	}
	clear(w.trace)
	w.trace = w.trace[:0]
	return nil
}

func (w *rowWriter) flushBatch() error {
	if _, err := w.w.Write(w.batch); err != nil {
		return fmt.Errorf("encode parquet: %w", err)
	}
	clear(w.batch) // release what the rows point to
	w.batch = w.batch[:0]
	return nil
}

// resourceEncoder encodes rows as format v3 stores them: their resource
// and scope for the resource column (schema.AppendResourceScope), and
// their events and links. A block's spans come from few resources, so it
// keeps the last few it encoded, and encodes one again only when a row's
// is none of them: comparing is cheaper than encoding.
type resourceEncoder struct {
	recent [8]encodedResource
	next   int
	// buf is where values are encoded, in chunks that rows point into
	// until the writer has encoded them and lets them go.
	buf []byte
}

type encodedResource struct {
	// service is the rows' service name, which equal resources share:
	// the others are not compared.
	service string
	source  schema.ResourceScope
	encoded []byte
}

// resourceChunk is the size of resourceEncoder's chunks of values.
const resourceChunk = 64 << 10

// setRow sets dst to r as format v3 stores it; dst shares r's memory and
// the encoder's.
func (e *resourceEncoder) setRow(dst *schema.SpanRowV3, r *schema.SpanRow) {
	resource := e.encode(r)
	if len(r.Events) == 0 && len(r.Links) == 0 {
		r.SetV3(dst, resource, nil)
		return
	}
	e.reserve()
	e.buf = r.SetV3(dst, resource, e.buf)
}

// reserve starts a new chunk when the one being filled is about full.
// Values handed out keep the old chunk as long as rows point to them; the
// encoder's own memory stays bounded.
func (e *resourceEncoder) reserve() {
	if cap(e.buf)-len(e.buf) < resourceChunk/64 {
		e.buf = make([]byte, 0, resourceChunk)
	}
}

func (e *resourceEncoder) encode(r *schema.SpanRow) []byte {
	s := schema.ResourceScopeOf(r)
	// The same slices first, which is most rows of a trace, then equal
	// ones.
	for i := range e.recent {
		if c := &e.recent[i]; c.encoded != nil && c.source.Same(&s) {
			return c.encoded
		}
	}
	for i := range e.recent {
		if c := &e.recent[i]; c.encoded != nil && c.service == r.ServiceName && c.source.Equal(&s) {
			c.source = s // the next rows of s find it by identity
			return c.encoded
		}
	}
	e.reserve()
	start := len(e.buf)
	e.buf = schema.AppendResourceScope(e.buf, &s)
	v := e.buf[start:len(e.buf):len(e.buf)]
	e.recent[e.next] = encodedResource{service: r.ServiceName, source: s, encoded: v}
	e.next = (e.next + 1) % len(e.recent)
	return v
}

// Close writes what is left and the footer. The file is then complete.
func (w *rowWriter) Close() error {
	if err := w.endTrace(); err != nil {
		return err
	}
	if len(w.batch) > 0 {
		if err := w.flushBatch(); err != nil {
			return err
		}
	}
	if err := w.w.Close(); err != nil {
		return fmt.Errorf("encode parquet: %w", err)
	}
	return nil
}

// describe fills the parts of meta that summarise the rows written and
// the file: after Close, its size.
func (w *rowWriter) describe(meta *schema.BlockMeta) {
	meta.MinTraceID = hex.EncodeToString(w.first[:])
	meta.MaxTraceID = hex.EncodeToString(w.last[:])
	meta.TotalSpans = w.spans
	meta.TotalTraces = w.traces
	meta.MinStart = time.Unix(0, w.minStart).UTC()
	meta.MaxEnd = time.Unix(0, w.maxEnd).UTC()
	meta.Size = w.out.n
	meta.DataCRC32C = formatCRC32C(w.out.crc)
}

// spanTimes returns the earliest and latest of r's start and end, as
// nanoseconds a time.Time holds. OTLP times are unsigned and the
// distributor refuses those past 2^63-1 ns, but records from another
// producer bypass it: one such time, taken as it is, would wrap the
// block's range to 1677 and hide every span of the block from searches.
// Clamped, it only widens the range to 2262. An end before the start, which
// OTLP allows, widens the range rather than escaping it.
func spanTimes(r *schema.SpanRow) (lo, hi int64) {
	start, end := clampNanos(r.StartUnixNano), clampNanos(r.EndUnixNano())
	return min(start, end), max(start, end)
}

func clampNanos(ns uint64) int64 {
	return int64(min(ns, math.MaxInt64))
}

// countingWriter counts the bytes written through it, and sums them up
// in a CRC-32C.
type countingWriter struct {
	w   io.Writer
	n   int64
	crc uint32
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	return n, err
}

// castagnoli is the CRC-32C polynomial's table: the checksum S3 also
// offers, computed by a CPU instruction on amd64 and arm64.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// formatCRC32C formats a CRC-32C as BlockMeta.DataCRC32C holds it.
func formatCRC32C(crc uint32) string {
	return fmt.Sprintf("%08x", crc)
}

package block

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/spanlog/spanlog/schema"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Columns says which columns a Scan reads besides trace_id and
// start_unix_nano. A scan reads and decodes only those: most searches need
// one or two of a block's columns, and the attribute lists, which are most
// of its bytes and decoding time, only when they test an attribute.
type Columns uint16

const (
	// SpanIDs reads the span and parent span IDs.
	SpanIDs Columns = 1 << iota
	// Name reads the span name.
	Name
	// Kind reads the span kind.
	Kind
	// Duration reads the span duration.
	Duration
	// Status reads the status code and message.
	Status
	// ServiceName reads the service_name search column.
	ServiceName
	// SpanAttrs reads the span attributes.
	SpanAttrs
	// ResourceAttrs reads the resource attributes.
	ResourceAttrs
	// HTTPMethod reads the http_method search column.
	HTTPMethod
	// HTTPURL reads the http_url search column.
	HTTPURL
	// Whole reads every column: the rows as stored, with their events,
	// links and instrumentation scope, which no other flag reads; the
	// other flags and the attribute keys are then moot. FindTraceColumns
	// and ScanTraces read the traces as FindTraceRows does; a Scan with
	// Whole takes no Where.
	Whole
)

// flatColumn is a column of Columns other than the attribute lists: the
// flag that reads it, and how a value of it fills in a row.
type flatColumn struct {
	flag Columns
	name string
	set  func(row *schema.SpanRow, v parquet.Value, a *arena)
}

// flatColumns are the columns of Columns other than the attribute lists,
// by the flag that reads them.
var flatColumns = []flatColumn{
	{0, schema.ColumnTraceID, func(r *schema.SpanRow, v parquet.Value, _ *arena) { copy(r.TraceID[:], v.ByteArray()) }},
	{0, schema.ColumnStart, func(r *schema.SpanRow, v parquet.Value, _ *arena) { r.StartUnixNano = v.Uint64() }},
	{SpanIDs, schema.ColumnSpanID, func(r *schema.SpanRow, v parquet.Value, _ *arena) { copy(r.SpanID[:], v.ByteArray()) }},
	{SpanIDs, schema.ColumnParentSpanID, func(r *schema.SpanRow, v parquet.Value, _ *arena) { copy(r.ParentSpanID[:], v.ByteArray()) }},
	{Name, schema.ColumnName, func(r *schema.SpanRow, v parquet.Value, a *arena) { r.Name = a.str(v) }},
	{Kind, schema.ColumnKind, func(r *schema.SpanRow, v parquet.Value, _ *arena) { r.Kind = v.Int32() }},
	{Duration, schema.ColumnDuration, func(r *schema.SpanRow, v parquet.Value, _ *arena) { r.DurationNano = v.Int64() }},
	{Status, schema.ColumnStatusCode, func(r *schema.SpanRow, v parquet.Value, _ *arena) { r.StatusCode = v.Int32() }},
	{Status, schema.ColumnStatusMessage, func(r *schema.SpanRow, v parquet.Value, a *arena) { r.StatusMessage = a.str(v) }},
	{ServiceName, schema.ColumnServiceName, func(r *schema.SpanRow, v parquet.Value, a *arena) { r.ServiceName = a.str(v) }},
	{HTTPMethod, schema.ColumnHTTPMethod, func(r *schema.SpanRow, v parquet.Value, a *arena) { r.HTTPMethod = a.str(v) }},
	{HTTPURL, schema.ColumnHTTPURL, func(r *schema.SpanRow, v parquet.Value, a *arena) { r.HTTPURL = a.str(v) }},
}

// ColumnFlag returns the flag of Columns that reads the flat column name
// (one of schema's Column constants), 0 for the trace ID and start, which
// every scan reads, and for any other name.
func ColumnFlag(name string) Columns {
	f, _ := flatColumnNamed(name)
	return f.flag
}

// flatColumnNamed returns the entry of flatColumns for column name.
func flatColumnNamed(name string) (flatColumn, bool) {
	for _, f := range flatColumns {
		if f.name == name {
			return f, true
		}
	}
	return flatColumn{}, false
}

// attributeLeaves are the leaf columns of an attribute list, in the order
// scanGroup reads them.
var attributeLeaves = []string{schema.LeafKey, schema.LeafStr, schema.LeafInt, schema.LeafDouble, schema.LeafBool, schema.LeafBytes, schema.LeafAny}

// ScanOptions say what a Scan reads.
type ScanOptions struct {
	// Columns are the columns read besides the trace ID and start.
	Columns Columns
	// AttributeKeys, if not nil, are the only attributes of the lists
	// Columns asks for that are decoded; the others are stepped over.
	AttributeKeys []string
	// Skip, if not nil, tells from a row group's statistics that none of
	// its rows is wanted: the group is not read at all.
	Skip func(GroupStats) bool
	// Where are tests of single flat columns that a row must all pass
	// to be wanted. Their columns are read first, one after the other,
	// for every row of a group; Columns only for the rows they keep,
	// stepping over whole pages where they keep none, and not at all in
	// a group where they keep none. fn sees the rows without the columns
	// of Where, unless Columns asks for them too.
	Where []RowTest
	// Transient says fn keeps no string or byte slice of the rows: they
	// point into the pages being read rather than into copies.
	Transient bool
}

// Scan calls fn with each span of the block, in block order, with only the
// fields of the row that opts asks for filled in, and the trace ID and
// start. fn may keep the strings and byte slices of row, but not row
// itself nor its attribute lists, which are reused. Scan stops at the
// first error fn returns, and when ctx ends.
//
// It decodes the columns itself, value by value, page by page: parquet-go's
// row reader reconstructs rows through reflection, which costs more than
// reading the values.
func (r *Reader) Scan(ctx context.Context, opts ScanOptions, fn func(row *schema.SpanRow) error) error {
	if opts.Columns&Whole != 0 {
		if len(opts.Where) > 0 {
			return fmt.Errorf("scan block %s: whole rows with row tests", r.meta.BlockID)
		}
		return r.scanWhole(ctx, opts.Skip, fn)
	}
	plan, err := r.scanPlan(opts.Columns)
	if err != nil {
		return fmt.Errorf("scan block %s: %w", r.meta.BlockID, err)
	}
	plan.setKeys(opts.AttributeKeys)
	plan.borrow = opts.Transient
	where, err := r.rowTests(opts.Where)
	if err != nil {
		return fmt.Errorf("scan block %s: %w", r.meta.BlockID, err)
	}
	for g := range r.file.RowGroups() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if opts.Skip != nil && opts.Skip(GroupStats{r: r, g: g}) {
			continue
		}
		var keep []bool
		if len(where) > 0 {
			var any bool
			if keep, any, err = r.selectRows(ctx, g, where); err != nil {
				return fmt.Errorf("scan block %s row group %d: %w", r.meta.BlockID, g, err)
			}
			if !any {
				continue
			}
		}
		if err := r.scanGroupRows(ctx, g, plan, keep, nil, fn); err != nil {
			return fmt.Errorf("scan block %s row group %d: %w", r.meta.BlockID, g, err)
		}
	}
	return nil
}

// ScanTraces calls fn with the rows of each trace of ids the block holds,
// as Scan fills them in, in trace ID order. It is FindTraceRows for many
// IDs: it reads the whole row groups that may hold any of ids, which costs
// less than looking up more than a few of their traces one by one, and
// decodes the rows of those traces only. fn may keep the rows, not change
// them: in a block of format v3 the rows of a resource share its lists.
//
// Of the attribute lists, only the attributes keys names are decoded, or
// all if keys is nil.
func (r *Reader) ScanTraces(ctx context.Context, cols Columns, keys []string, ids []pcommon.TraceID, fn func(id pcommon.TraceID, rows []schema.SpanRow) error) error {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, compareTraceIDs)
	ids = slices.Compact(ids)
	want := make(map[[16]byte]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	if cols&Whole != 0 {
		return r.scanWholeTraces(ctx, ids, want, fn)
	}
	plan, err := r.scanPlan(cols)
	if err != nil {
		return fmt.Errorf("scan block %s: %w", r.meta.BlockID, err)
	}
	plan.setKeys(keys)
	var trace []schema.SpanRow
	flush := func() error {
		if len(trace) == 0 {
			return nil
		}
		t := trace
		trace = nil
		return fn(t[0].TraceID, t)
	}
	for g := range r.file.RowGroups() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(r.candidates(g, ids)) == 0 {
			continue
		}
		err := r.scanGroup(ctx, g, plan, func(id [16]byte) bool { return want[id] }, func(row *schema.SpanRow) error {
			if len(trace) > 0 && trace[0].TraceID != row.TraceID {
				if err := flush(); err != nil {
					return err
				}
			}
			kept := *row
			kept.Attrs, kept.ResourceAttrs = slices.Clone(row.Attrs), slices.Clone(row.ResourceAttrs)
			trace = append(trace, kept)
			return nil
		})
		if err != nil {
			return fmt.Errorf("scan block %s row group %d: %w", r.meta.BlockID, g, err)
		}
	}
	return flush()
}

// scanPlan is the leaf columns a scan reads.
type scanPlan struct {
	flat []flatLeaf
	// attrs and resourceAttrs are the leaves of attributeLeaves, or nil.
	attrs, resourceAttrs []int
	// resource is a format v3 block's resource column, which gives the
	// resource attributes in place of resourceAttrs; -1 if not read.
	resource  int
	resources resourceDecoder
	// keys, if not nil, are the attributes decoded.
	keys map[string]bool
	// borrow says the rows' strings and byte slices may point into the
	// pages (see ScanOptions.Transient).
	borrow bool
}

// setKeys makes the plan decode only the attributes keys names, or all if
// keys is nil.
func (p *scanPlan) setKeys(keys []string) {
	if keys == nil {
		return
	}
	p.keys = make(map[string]bool, len(keys))
	for _, k := range keys {
		p.keys[k] = true
	}
}

type flatLeaf struct {
	column int
	// flag is the Columns flag that reads it; 0 for those always read.
	flag Columns
	set  func(*schema.SpanRow, parquet.Value, *arena)
}

func (r *Reader) scanPlan(cols Columns) (*scanPlan, error) {
	if cols&Whole != 0 {
		return nil, errors.New("a scan decodes no whole rows")
	}
	sch := r.file.Schema()
	p := &scanPlan{resource: -1}
	for _, f := range flatColumns {
		if f.flag != 0 && cols&f.flag == 0 {
			continue
		}
		c, ok := sch.Lookup(f.name)
		if !ok {
			return nil, fmt.Errorf("no column %s", f.name)
		}
		p.flat = append(p.flat, flatLeaf{column: c.ColumnIndex, flag: f.flag, set: f.set})
	}
	list := func(name string) ([]int, error) {
		leaves := make([]int, len(attributeLeaves))
		for i, leaf := range attributeLeaves {
			c, ok := sch.Lookup(name, leaf)
			if !ok {
				return nil, fmt.Errorf("no column %s.%s", name, leaf)
			}
			leaves[i] = c.ColumnIndex
		}
		return leaves, nil
	}
	var err error
	if cols&SpanAttrs != 0 {
		if p.attrs, err = list(schema.ColumnAttrs); err != nil {
			return nil, err
		}
	}
	switch {
	case cols&ResourceAttrs == 0:
	case r.resourceColumn >= 0:
		p.resource = r.resourceColumn
	default:
		if p.resourceAttrs, err = list(schema.ColumnResourceAttrs); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// GroupStats describes one row group, from the footer alone, so that a
// scan can skip a group none of whose spans it wants.
type GroupStats struct {
	r *Reader
	g int
}

// NumRows returns the number of spans in the group.
func (s GroupStats) NumRows() int64 {
	return s.r.file.RowGroups()[s.g].NumRows()
}

// Int64Bounds returns the smallest and largest values of an integer column
// (named as in schema.SpanRow's parquet tags) in the group, nulls left out;
// ok is false when the footer does not say.
func (s GroupStats) Int64Bounds(column string) (lo, hi int64, ok bool) {
	minV, maxV, ok := s.bounds(column)
	if !ok {
		return 0, 0, false
	}
	switch minV.Kind() {
	case parquet.Int32, parquet.Int64:
		return minV.Int64(), maxV.Int64(), true
	}
	return 0, 0, false
}

// StringBounds is Int64Bounds for a string column.
func (s GroupStats) StringBounds(column string) (lo, hi string, ok bool) {
	minV, maxV, ok := s.bounds(column)
	if !ok || minV.Kind() != parquet.ByteArray {
		return "", "", false
	}
	return string(minV.ByteArray()), string(maxV.ByteArray()), true
}

func (s GroupStats) bounds(column string) (lo, hi parquet.Value, ok bool) {
	col, found := s.r.file.Schema().Lookup(column)
	if !found || !col.Node.Leaf() {
		return lo, hi, false
	}
	chunk, isFile := s.r.file.RowGroups()[s.g].ColumnChunks()[col.ColumnIndex].(*parquet.FileColumnChunk)
	if !isFile {
		return lo, hi, false
	}
	return chunk.Bounds()
}

// scanGroup calls fn with the rows of row group g whose trace ID keep (if
// not nil) keeps; the others are stepped over without being decoded.
func (r *Reader) scanGroup(ctx context.Context, g int, plan *scanPlan, keep func([16]byte) bool, fn func(*schema.SpanRow) error) error {
	return r.scanGroupRows(ctx, g, plan, nil, keep, fn)
}

// scanGroupRows is scanGroup that also steps over the rows rows (if not
// nil) marks false.
func (r *Reader) scanGroupRows(ctx context.Context, g int, plan *scanPlan, rows []bool, keep func([16]byte) bool, fn func(*schema.SpanRow) error) error {
	rg := r.file.RowGroups()[g]
	fetched, err := r.fetchChunks(ctx, g, plan.leaves())
	if err != nil {
		return err
	}
	open := fetched.cursor
	openAll := func(cs []int) []*leafCursor {
		out := make([]*leafCursor, len(cs))
		for i, c := range cs {
			out[i] = open(c)
		}
		return out
	}
	flat := make([]*leafCursor, len(plan.flat))
	for i, f := range plan.flat {
		flat[i] = open(f.column)
	}
	attrs, resourceAttrs := openAll(plan.attrs), openAll(plan.resourceAttrs)
	// A v3 block's resource column is stepped over as the flat ones.
	var resource *leafCursor
	flatAll := flat
	if plan.resource >= 0 {
		resource = open(plan.resource)
		flatAll = append(slices.Clip(flat), resource)
	}
	defer func() {
		for _, c := range slices.Concat(flatAll, attrs, resourceAttrs) {
			c.close()
		}
	}()

	// Strings and values are copied into memory of this group's own, so
	// that fn may keep them while the pages are let go.
	a := &arena{borrow: plan.borrow}
	var row schema.SpanRow
	// pos is the row the cursors are at: rows marks few rows, and the
	// others are stepped over in runs, by page where a run is long.
	var pos int64
	for i := range rg.NumRows() {
		if i%readBatch == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if rows != nil {
			if !rows[i] {
				continue
			}
			if i > pos {
				if err := skipRows(flatAll, attrs, resourceAttrs, i-pos, i); err != nil {
					return err
				}
			}
			pos = i + 1
		}
		// The trace ID is the first column read: a row keep drops is
		// stepped over before anything else of it is decoded.
		skipRow := false
		for k, c := range flat {
			v, err := c.next()
			if err != nil {
				return err
			}
			if skipRow {
				continue
			}
			plan.flat[k].set(&row, v, a)
			skipRow = k == 0 && keep != nil && !keep(row.TraceID)
		}
		if skipRow {
			if err := skipAttributes(attrs); err != nil {
				return err
			}
			if err := skipAttributes(resourceAttrs); err != nil {
				return err
			}
			if resource != nil {
				if err := resource.skip(); err != nil {
					return err
				}
			}
			continue
		}
		if row.Attrs, err = readAttributes(attrs, plan.keys, row.Attrs[:0], a); err != nil {
			return err
		}
		if resource != nil {
			if row.ResourceAttrs, err = plan.readResource(resource); err != nil {
				return err
			}
		} else if row.ResourceAttrs, err = readAttributes(resourceAttrs, plan.keys, row.ResourceAttrs[:0], a); err != nil {
			return err
		}
		if err := fn(&row); err != nil {
			return err
		}
	}
	return nil
}

// readResource returns the resource attributes of the next value of
// cursor, a v3 block's resource column, as the plan reads them. They are
// shared with the other rows of the resource: they must not be changed.
func (p *scanPlan) readResource(cursor *leafCursor) ([]schema.Attribute, error) {
	v, err := cursor.next()
	if err != nil {
		return nil, err
	}
	return p.resources.attrs(v.ByteArray(), p.keys)
}

// fetchedChunks are column chunks of one row group, fetched whole.
type fetchedChunks struct {
	chunks  []parquet.ColumnChunk
	fetched *prefetchedReaderAt
}

// fetchChunks fetches the column chunks of leaves in row group g whole, in
// one request per run of chunks that are beside each other.
func (r *Reader) fetchChunks(ctx context.Context, g int, leaves []int) (fetchedChunks, error) {
	ranges := make([]byteRange, len(leaves))
	for i, c := range leaves {
		ranges[i] = r.chunkRange(g, c)
	}
	fetched, err := prefetch(ctx, r.obj, ranges)
	if err != nil {
		return fetchedChunks{}, err
	}
	return fetchedChunks{chunks: r.file.RowGroups()[g].ColumnChunks(), fetched: fetched}, nil
}

// pages returns the pages of leaf column c, which must have been fetched.
func (f fetchedChunks) pages(c int) parquet.Pages {
	return prefetchedChunk{FileColumnChunk: f.chunks[c].(*parquet.FileColumnChunk), r: f.fetched}.Pages()
}

// cursor returns a cursor over the values of leaf column c.
func (f fetchedChunks) cursor(c int) *leafCursor {
	return &leafCursor{pages: f.pages(c)}
}

// readAttributes appends the attributes of the next row to dst, reading one
// value of each leaf of cursors (in attributeLeaves order) per attribute,
// and decoding only those keys holds (all if keys is nil). A row with an
// empty list has one null value in each.
func readAttributes(cursors []*leafCursor, keys map[string]bool, dst []schema.Attribute, a *arena) ([]schema.Attribute, error) {
	if len(cursors) == 0 {
		return nil, nil
	}
	var vals [7]parquet.Value
	for first := true; ; first = false {
		if !first {
			next, ok, err := cursors[0].peek()
			if err != nil {
				return nil, err
			}
			if !ok || next.RepetitionLevel() == 0 {
				return dst, nil
			}
		}
		key, err := cursors[0].next()
		if err != nil {
			return nil, err
		}
		// The key decides whether the values are looked at at all.
		if key.DefinitionLevel() == 0 || keys != nil && !keys[string(key.ByteArray())] { // no copy
			for _, c := range cursors[1:] {
				if err := c.skip(); err != nil {
					return nil, err
				}
			}
			if key.DefinitionLevel() == 0 {
				return dst, nil // an empty list
			}
			continue
		}
		vals[0] = key
		for i, c := range cursors[1:] {
			if vals[i+1], err = c.next(); err != nil {
				return nil, err
			}
		}
		attr := schema.Attribute{Key: a.str(vals[0])}
		switch {
		case !vals[1].IsNull():
			attr.Str = a.strPtr(vals[1])
		case !vals[2].IsNull():
			attr.Int = a.intPtr(vals[2].Int64())
		case !vals[3].IsNull():
			attr.Double = a.doublePtr(vals[3].Double())
		case !vals[4].IsNull():
			attr.Bool = a.boolPtr(vals[4].Boolean())
		case !vals[5].IsNull():
			attr.Bytes = a.bytes(vals[5])
		case !vals[6].IsNull():
			attr.Any = a.bytes(vals[6])
		}
		dst = append(dst, attr)
	}
}

// skipAttributes steps over the attributes of the next row.
func skipAttributes(cursors []*leafCursor) error {
	for first := true; len(cursors) > 0; first = false {
		if !first {
			next, ok, err := cursors[0].peek()
			if err != nil {
				return err
			}
			if !ok || next.RepetitionLevel() == 0 {
				return nil
			}
		}
		for _, c := range cursors {
			if _, err := c.next(); err != nil {
				return err
			}
		}
	}
	return nil
}

// skipRows moves the cursors of a row group's flat columns and attribute
// lists past n rows, to row to.
func skipRows(flat, attrs, resourceAttrs []*leafCursor, n, to int64) error {
	for _, c := range flat {
		if err := c.skipFlat(n, to); err != nil {
			return err
		}
	}
	for _, c := range slices.Concat(attrs, resourceAttrs) {
		if err := c.skipRepeated(n, to); err != nil {
			return err
		}
	}
	return nil
}

// leafCursor reads the values of one column chunk one at a time.
type leafCursor struct {
	pages  parquet.Pages
	values parquet.ValueReader
	buf    []parquet.Value
	i      int
}

// next returns the next value; running out of values is an error.
func (c *leafCursor) next() (parquet.Value, error) {
	if c.i < len(c.buf) { // the fast path, inlined
		c.i++
		return c.buf[c.i-1], nil
	}
	v, ok, err := c.peek()
	if err == nil && !ok {
		err = io.ErrUnexpectedEOF
	}
	c.i++
	return v, err
}

// skip moves past the next value.
func (c *leafCursor) skip() error {
	if c.i < len(c.buf) {
		c.i++
		return nil
	}
	_, err := c.next()
	return err
}

// skipFlat moves the cursor of a flat column, one value per row, past n
// rows, to row to: through the values of the page being read, and past
// the pages in between by the chunk's offset index, without decoding them.
func (c *leafCursor) skipFlat(n, to int64) error {
	for {
		if left := int64(len(c.buf) - c.i); n <= left {
			c.i += int(n)
			return nil
		} else {
			n -= left
			c.i = len(c.buf)
		}
		if c.values == nil {
			return c.seek(to)
		}
		c.buf = slices.Grow(c.buf[:0], readBatch)[:readBatch]
		read, err := c.values.ReadValues(c.buf)
		c.buf, c.i = c.buf[:read], 0
		if read == 0 {
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			c.values = nil
		}
	}
}

// skipRepeated moves the cursor of a repeated column past n rows, to row
// to: row by row within the values read, and by the offset index once
// those run out.
func (c *leafCursor) skipRepeated(n, to int64) error {
	for ; n > 0 && c.i < len(c.buf); n-- {
		c.i++ // the row's first value
		for c.i < len(c.buf) && c.buf[c.i].RepetitionLevel() != 0 {
			c.i++
		}
		if c.i == len(c.buf) {
			// The row may go on in values not read yet.
			for {
				v, ok, err := c.peek()
				if err != nil {
					return err
				}
				if !ok || v.RepetitionLevel() == 0 {
					break
				}
				c.i++
			}
		}
	}
	if n == 0 {
		return nil
	}
	return c.seek(to)
}

// seek moves the cursor to the first value of row.
func (c *leafCursor) seek(row int64) error {
	if err := c.pages.SeekToRow(row); err != nil {
		return err
	}
	c.values, c.buf, c.i = nil, c.buf[:0], 0
	return nil
}

// peek returns the next value without moving past it; ok is false at the
// end of the chunk.
func (c *leafCursor) peek() (v parquet.Value, ok bool, err error) {
	if c.i < len(c.buf) {
		return c.buf[c.i], true, nil
	}
	return c.fill()
}

// fill reads values from the chunk once those read are used up.
func (c *leafCursor) fill() (v parquet.Value, ok bool, err error) {
	for c.i >= len(c.buf) {
		if c.values != nil {
			c.buf = slices.Grow(c.buf[:0], readBatch)[:readBatch]
			n, err := c.values.ReadValues(c.buf)
			c.buf, c.i = c.buf[:n], 0
			if n > 0 {
				break
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return v, false, err
			}
			c.values = nil
			continue
		}
		page, err := c.pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return v, false, nil
		}
		if err != nil {
			return v, false, err
		}
		c.values = page.Values()
	}
	return c.buf[c.i], true, nil
}

func (c *leafCursor) close() { c.pages.Close() }

// arena holds copies of the values a row group's scan hands out. It only
// ever appends: memory handed out is never written again, so what fn keeps
// stays valid, and the next row group gets an arena of its own.
type arena struct {
	// borrow says bytes and strings point into the values' pages, for
	// rows no one keeps beyond the page (see ScanOptions.Transient).
	borrow   bool
	bytesBuf []byte
	ints     []int64
	doubles  []float64
	bools    []bool
	strs     []string
}

// arenaSlab is how many values of a kind an arena allocates at once.
const arenaSlab = 1024

func (a *arena) bytes(v parquet.Value) []byte {
	b := v.ByteArray()
	if a.borrow {
		return b
	}
	if len(b) > cap(a.bytesBuf)-len(a.bytesBuf) {
		a.bytesBuf = make([]byte, 0, max(64<<10, len(b)))
	}
	start := len(a.bytesBuf)
	a.bytesBuf = append(a.bytesBuf, b...)
	return a.bytesBuf[start:len(a.bytesBuf):len(a.bytesBuf)]
}

// str returns v as a string without a copy of its own: it points into the
// arena, which is never written again.
func (a *arena) str(v parquet.Value) string {
	if v.IsNull() {
		return ""
	}
	b := a.bytes(v)
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (a *arena) strPtr(v parquet.Value) *string {
	a.strs = grow(a.strs)
	a.strs = append(a.strs, a.str(v))
	return &a.strs[len(a.strs)-1]
}

func (a *arena) intPtr(n int64) *int64 {
	a.ints = grow(a.ints)
	a.ints = append(a.ints, n)
	return &a.ints[len(a.ints)-1]
}

func (a *arena) doublePtr(f float64) *float64 {
	a.doubles = grow(a.doubles)
	a.doubles = append(a.doubles, f)
	return &a.doubles[len(a.doubles)-1]
}

func (a *arena) boolPtr(b bool) *bool {
	a.bools = grow(a.bools)
	a.bools = append(a.bools, b)
	return &a.bools[len(a.bools)-1]
}

// grow returns s with room for one more value without moving the values
// already handed out: a full slab is left as it is for a new one.
func grow[T any](s []T) []T {
	if len(s) < cap(s) {
		return s
	}
	return make([]T, 0, arenaSlab)
}

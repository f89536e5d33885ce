package block

import (
	"bytes"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/schema"
)

// Builder collects the spans of one tenant's block in memory and writes
// them as a block. It is not safe for concurrent use.
//
// A block too large to hold decoded at once is built in parts (see
// EndPart): each part's spans are decoded, sorted and encoded into the
// block's Parquet file, then forgotten, so the Builder holds one part's
// spans and the file encoded so far.
type Builder struct {
	tenant string
	opts   Options
	rows   []schema.SpanRow // added since the last part ended
	dec    schema.RowDecoder

	// Once a part ended: the file encoded so far, the writer encoding it
	// and the greatest trace ID in it, which the next part must exceed.
	data    bytes.Buffer
	w       *rowWriter
	lastID  [16]byte
	encoded bool
	// meta is set by the first Write, once the file is complete.
	meta    *schema.BlockMeta
	foreign bool  // see MarkForeign
	err     error // of a part that failed to encode: the block cannot be written
}

// NewBuilder returns an empty Builder of tenant's next block.
func NewBuilder(tenant string, opts Options) *Builder {
	return &Builder{tenant: tenant, opts: opts}
}

// Add adds td's spans to the block. The Builder keeps no reference to td.
func (b *Builder) Add(td ptrace.Traces) {
	b.rows = schema.AppendRows(b.rows, td)
}

// AddValue adds the spans of value, a record's value, to the block. It
// fails, adding nothing, on a value pdata cannot decode; a value without
// spans adds nothing. The Builder keeps no reference to value.
func (b *Builder) AddValue(value []byte) error {
	rows, err := b.dec.Append(b.rows, value)
	b.rows = rows
	return err
}

// AddRange adds the spans of value, a record's value, whose trace IDs lie
// in r to the block, as schema.RowDecoder.AppendRange decodes them: a
// value added range after range, over a partition of the trace IDs, adds
// the spans AddValue adds, and one of its ranges fails when AddValue
// would (see schema.SpanRange). It fails adding nothing. The Builder
// keeps no reference to value.
func (b *Builder) AddRange(value []byte, r schema.SpanRange) error {
	rows, err := b.dec.AppendRange(b.rows, value, r)
	b.rows = rows
	return err
}

// MarkForeign says that spans of foreign records are added to the block
// (schema.BlockMeta.Foreign); it must be called before the first Write.
func (b *Builder) MarkForeign() {
	b.foreign = true
}

// Spans returns the number of spans added since the last part ended,
// duplicates included until the part drops them.
func (b *Builder) Spans() int {
	return len(b.rows)
}

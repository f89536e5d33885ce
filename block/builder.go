package block

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/schema"
)

// Builder collects the spans of one tenant's block in memory and writes
// them as a block. It is not safe for concurrent use.
type Builder struct {
	tenant string
	opts   Options
	rows   []schema.SpanRow
}

// NewBuilder returns an empty Builder of tenant's next block.
func NewBuilder(tenant string, opts Options) *Builder {
	return &Builder{tenant: tenant, opts: opts}
}

// Grow makes room for n more spans, for a caller that knows how many it
// will add: rows grown as spans come are copied over and over, which took
// a sixth of a block-builder's CPU (docs/benchmarks.md).
func (b *Builder) Grow(n int) {
	b.rows = slices.Grow(b.rows, n)
}

// Add adds td's spans to the block. The Builder keeps no reference to td.
func (b *Builder) Add(td ptrace.Traces) {
	b.rows = schema.AppendRows(b.rows, td)
}

// Spans returns the number of spans added, duplicates included until Write
// drops them.
func (b *Builder) Spans() int {
	return len(b.rows)
}

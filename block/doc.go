// Package block owns the layout of blocks in object storage, and writing,
// reading and merging them (Compact): a block is a Parquet file of spans
// sorted by trace ID (schema.SpanRowV3; blocks of formats v1 and v2, of
// schema.SpanRow, are still read, and read as SpanRow), and a meta.json
// written after it, so that a block without meta does not exist.
//
// It does not decide when to cut a block, which blocks a query should read,
// or when blocks are compacted or deleted; the block-builder, querier and
// compactor do.
package block

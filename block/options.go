package block

import (
	"cmp"
	"errors"
	"fmt"
)

// Options shape the Parquet file of a block. They trade the cost of a
// trace-by-ID lookup (which reads one row group's bloom filter and about
// one page per column) against file size and write speed.
type Options struct {
	// RowsPerRowGroup caps the spans of one row group. The trace ID bloom
	// filter and the column dictionaries are per row group, so smaller
	// groups make a lookup read less, at the price of a larger footer.
	// Zero means 20,000.
	RowsPerRowGroup int64 `yaml:"rows-per-row-group" help:"Maximum spans in one Parquet row group of a block."`
	// PageBufferSizeBytes is the uncompressed size at which a column's page
	// is cut. A lookup reads about one page per column; smaller pages read
	// less but compress worse and grow the page index. Zero means 16 KiB.
	PageBufferSizeBytes int `yaml:"page-buffer-size-bytes" help:"Uncompressed size at which a Parquet page is cut."`
	// BloomFilterBitsPerValue sizes the bloom filter on trace_id, in bits
	// per span. A trace has several spans, so the false-positive rate per
	// trace is lower than that of the bits per span alone (10 bits: about
	// 1%). Zero means 10.
	BloomFilterBitsPerValue int `yaml:"bloom-filter-bits-per-value" help:"Bits per span of the trace ID bloom filter of each row group."`
	// DictionaryMaxBytes caps a column's dictionary within a row group; a
	// column that outgrows it falls back to plain encoding. A lookup reads
	// the dictionary of every column it touches, so a high-cardinality
	// column (URLs, IDs) must not grow one without bound. Zero means 256 KiB.
	DictionaryMaxBytes int64 `yaml:"dictionary-max-bytes" help:"Largest dictionary of a column in a row group before it falls back to plain encoding."`
	// CompressionLevel is zstd's level for every column:
	// "fastest-raw-literals", "fastest", "default" or "better". A faster
	// level costs the writer less CPU and makes larger files; readers
	// decompress every level alike. On the load generator's spans,
	// fastest encodes a block in about 12% less CPU than default and
	// makes it 4% larger; fastest-raw-literals (fastest without
	// Huffman-coding the literals) about 9% less than fastest, for 6%
	// more bytes (12% on other spans); better makes it 1.5% smaller for
	// 10 to 20% more. Empty means default.
	CompressionLevel string `yaml:"compression-level" help:"zstd level of a block's columns: fastest-raw-literals, fastest, default or better."`
}

// DefaultOptions returns the options used for zero fields.
func DefaultOptions() Options {
	return Options{
		RowsPerRowGroup:         20_000,
		PageBufferSizeBytes:     16 << 10,
		BloomFilterBitsPerValue: 10,
		DictionaryMaxBytes:      256 << 10,
		CompressionLevel:        CompressionDefault,
	}
}

// Validate reports options no block can be written with.
func (o Options) Validate() error {
	var errs []error
	if o.RowsPerRowGroup < 0 {
		errs = append(errs, fmt.Errorf("rows per row group %d is negative", o.RowsPerRowGroup))
	}
	if o.PageBufferSizeBytes < 0 {
		errs = append(errs, fmt.Errorf("page buffer size %d is negative", o.PageBufferSizeBytes))
	}
	if o.BloomFilterBitsPerValue < 0 {
		errs = append(errs, fmt.Errorf("bloom filter bits per value %d is negative", o.BloomFilterBitsPerValue))
	}
	if o.DictionaryMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("dictionary max bytes %d is negative", o.DictionaryMaxBytes))
	}
	if err := checkLevel(o.CompressionLevel); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// withDefaults returns o with zero fields set from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	o.RowsPerRowGroup = cmp.Or(o.RowsPerRowGroup, d.RowsPerRowGroup)
	o.PageBufferSizeBytes = cmp.Or(o.PageBufferSizeBytes, d.PageBufferSizeBytes)
	o.BloomFilterBitsPerValue = cmp.Or(o.BloomFilterBitsPerValue, d.BloomFilterBitsPerValue)
	o.DictionaryMaxBytes = cmp.Or(o.DictionaryMaxBytes, d.DictionaryMaxBytes)
	o.CompressionLevel = cmp.Or(o.CompressionLevel, d.CompressionLevel)
	return o
}

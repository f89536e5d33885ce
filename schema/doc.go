// Package schema owns spanlog's data formats: the Kafka record that carries
// spans on the log, the partitioning of traces onto the log, the Parquet row
// that stores spans in blocks, the block meta, and the lossless conversions
// between them and OTLP.
//
// It does not read or write Kafka or object storage; the packages that do
// (producer, consumer, block) call into it, so that every format lives here
// once, with one mapping per format version.
package schema

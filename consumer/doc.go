// Package consumer holds what every reader of the trace log shares: where a
// consumer group stands (committed offsets), how far a reader lags behind the
// end of each partition, and the decoding of fetched records into spans.
// What a reader does with the spans (blocks, a live tail) is its own.
package consumer

// Package live holds the trace log's live tail: the records of each
// partition that no known block holds yet, so that a trace is queryable
// from the moment Kafka acked it.
//
// Queriers share the partitions through a Kafka consumer group: the group
// gives each partition to one querier, which consumes it into its Tail
// (tails.go), and any querier learns the owners by describing the group,
// whose join metadata carries each member's address (owners.go). Tails
// answers for every partition: from its own tail, and by asking the owners
// of the others over the peer protocol (request.go, client.go, serve.go,
// http.go), which carries one kind of request each: the spans of some
// traces, or the answer of a Digester the querier hands in, so that only
// the answer travels.
//
// It owns the tail, what it holds of each record (the value, compressed,
// an index by tenant and trace ID, the summaries of its traces, and an
// index of what span filters test, which Slice.Match judges filters by; a
// query that needs more decodes what it reads, see Slice), its bound and
// evictions, partition ownership, the peer protocol and its errors and
// status codes, and Partial, which says why an answer may lack spans. It does not own what a digester asks
// (search candidates, tags: package querier does), TraceQL, blocks (it
// asks the blocklist which of them cover the tail), or the query API.
package live

package live

import (
	"encoding/hex"
	"encoding/json"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// What a live request asks of the spans it names. A request for spans gets
// them whole; any other kind is answered by the owner's Digester of that
// kind (see Digester), so that only the answer travels.
const KindSpans = "spans"

// wireRequest is a Query of one kind, as sent to another querier.
type wireRequest struct {
	Kind       string   `json:"kind"`
	Tenants    []string `json:"tenants"`
	Partitions []int32  `json:"partitions"`
	// TraceIDs, in hex, limit the spans to those traces; empty means all.
	TraceIDs []string `json:"traceIDs,omitempty"`
	// Ends are the log's end offsets when the query began: the owner waits
	// up to ReadYourWritesTimeout for its tail to reach them.
	Ends map[int32]int64 `json:"ends,omitempty"`
	// Args are the Digester's own, for kinds other than spans.
	Args json.RawMessage `json:"args,omitempty"`
}

// wireResponse is an owner's answer to a request.
type wireResponse struct {
	// From gives, per tenant and partition, where the owner's tail holds
	// every record of the tenant (Slice.From).
	From map[string]map[int32]int64 `json:"from"`
	// Traces holds, per tenant, an OTLP ExportTraceServiceRequest in
	// protobuf: the answer to a request for spans.
	Traces map[string][]byte `json:"traces,omitempty"`
	// Digest is the Digester's answer, for other kinds.
	Digest json.RawMessage `json:"digest,omitempty"`
	// Partial says why the answer may miss spans: the tail had not
	// reached Ends in time, evicted records, or lacked the blocklist.
	Partial Partial `json:"partial,omitzero"`
}

// Query names the spans of the live tails a query reads.
type Query struct {
	Tenants []string
	// Partitions to read; nil means every partition.
	Partitions []int32
	// IDs, when not empty, limit the spans to those traces.
	IDs []pcommon.TraceID
	// Ends, when not nil, are the offsets each tail must reach first
	// (read your writes).
	Ends map[int32]int64
	// Storage bounds the waits on object storage; the zero value starts
	// the bound at the call.
	Storage StorageWait
}

// Digester answers a kind of question about the spans a live tail holds,
// where they are held, so that a question about many spans travels as its
// answer, not as the spans. What the question is, the live tail does not
// know: the querier hands it the Digester of each kind. It reads
// args, the question's own as the asker encoded them, before any span is
// read, and returns what answers it from the spans of a slice, in JSON,
// or the slice's error decoding them.
type Digester func(args json.RawMessage) (func(Slice) (any, error), error)

// Answer is what the live tails answered to one Query.
type Answer struct {
	// Traces holds each tenant's spans, possibly with duplicates, for a
	// request for spans.
	Traces map[string][]ptrace.Traces
	// Digests holds each owner's answer, for other kinds.
	Digests []json.RawMessage
	// From merges the owners' Slice.From.
	From map[string]map[int32]int64
}

func newAnswer() Answer {
	return Answer{Traces: make(map[string][]ptrace.Traces), From: make(map[string]map[int32]int64)}
}

// query is the Query another querier sent as req.
func (req wireRequest) query() (Query, error) {
	lq := Query{Tenants: req.Tenants, Partitions: req.Partitions, Ends: req.Ends}
	for _, s := range req.TraceIDs {
		id, err := parseTraceID(s)
		if err != nil {
			return lq, err
		}
		lq.IDs = append(lq.IDs, id)
	}
	return lq, nil
}

// parseTraceID accepts what the query API does: 1 to 32 hex digits,
// left-padded with zeros, not all zeros.
func parseTraceID(s string) (pcommon.TraceID, error) {
	var id pcommon.TraceID
	b, err := hex.DecodeString(strings.Repeat("0", max(0, 32-len(s))) + s)
	if err != nil || len(s) == 0 || len(b) != len(id) {
		return id, badRequest("trace ID %q must be 1 to 32 hex digits", s)
	}
	copy(id[:], b)
	if id.IsEmpty() {
		return id, badRequest("trace ID must not be all zeros")
	}
	return id, nil
}

// request is lq for partitions as sent to another querier.
func (lq Query) request(kind string, args json.RawMessage, partitions []int32) wireRequest {
	req := wireRequest{Kind: kind, Tenants: lq.Tenants, Partitions: partitions, Ends: lq.Ends, Args: args}
	for _, id := range lq.IDs {
		req.TraceIDs = append(req.TraceIDs, hex.EncodeToString(id[:]))
	}
	return req
}

// merge adds o to a.
func (a *Answer) merge(o Answer) {
	for tenant, parts := range o.Traces {
		a.Traces[tenant] = append(a.Traces[tenant], parts...)
	}
	a.Digests = append(a.Digests, o.Digests...)
	// Answers of one partition from one owner (halves of a request)
	// hold every record from the furthest of their starts.
	for tenant, from := range o.From {
		if a.From[tenant] == nil {
			a.From[tenant] = make(map[int32]int64, len(from))
		}
		for p, off := range from {
			a.From[tenant][p] = max(a.From[tenant][p], off)
		}
	}
}

// Path is the route a querier serves its live tail to other queriers
// on. It is internal: it takes tenants from the body, not the header.
const Path = "/internal/live"

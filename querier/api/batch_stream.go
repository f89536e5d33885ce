package api

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/spanlog/spanlog/querier"
)

// A batch response is a stream of records, one per trace found, in the
// order they complete, and a last one that ends it. Each is flushed as it
// is written, so a client gets a trace as soon as it is found.
//
// In JSON (application/x-ndjson), a record is one line:
//
//	{"traceID": "<32 hex digits>", "trace": {"resourceSpans": [...]}}
//	{"notFound": ["<hex>", ...], "metrics": {"inspectedBytes": "N", "inspectedBlocks": "N"}, "status": "PARTIAL", "message": "..."}
//	{"error": "..."}
//
// The last line is either the summary (status and message only when spans
// may be missing: see querier.Partial) or, if the lookup failed after the
// first trace was sent, the error. A trace whose record would take the
// response past max-response-bytes is such an error: the stream ends with
// it instead. The last record is not counted against the limit, as it is
// what tells the client how the stream ended.
//
// In protobuf (application/protobuf), a record is a BatchTraceFrame
// preceded by its length as a varint, as protodelim and Java's
// writeDelimitedTo write them:
//
//	message BatchTraceFrame {
//	  bytes trace_id = 1;            // 16 bytes, in a trace's frame
//	  Trace trace = 2;               // wire-identical to OTLP TracesData
//	  repeated bytes not_found = 3;  // in the last frame
//	  BatchMetrics metrics = 4;      // in the last frame
//	  PartialStatus status = 5;      // in the last frame: Tempo's enum, PARTIAL = 1
//	  string message = 6;            // with status
//	  string error = 7;              // in the last frame of a failed lookup
//	}
//	message BatchMetrics {
//	  uint64 inspected_bytes = 1;
//	  uint64 inspected_blocks = 2;
//	}
//
// A frame without trace_id is the last one.
const (
	batchFieldTraceID  = 1
	batchFieldTrace    = 2
	batchFieldNotFound = 3
	batchFieldMetrics  = 4
	batchFieldStatus   = 5
	batchFieldMessage  = 6
	batchFieldError    = 7

	batchMetricsFieldInspectedBlocks = 2 // inspected_bytes is metricsFieldInspectedBytes
)

// batchStream writes a batch response as the lookup goes.
type batchStream struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	protobuf bool
	limit    querier.ResponseLimit
	// started is set once the status line is sent: errors can then only
	// be reported in the body.
	started bool
	// sent counts the bytes of the body sent so far.
	sent int
}

func newBatchStream(w http.ResponseWriter, protobuf bool, limit querier.ResponseLimit) *batchStream {
	return &batchStream{w: w, rc: http.NewResponseController(w), protobuf: protobuf, limit: limit}
}

// trace writes the record of a trace found.
func (s *batchStream) trace(id pcommon.TraceID, td ptrace.Traces) error {
	if s.protobuf {
		trace, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			return err
		}
		frame := protowire.AppendTag(nil, batchFieldTraceID, protowire.BytesType)
		frame = protowire.AppendBytes(frame, id[:])
		frame = protowire.AppendTag(frame, batchFieldTrace, protowire.BytesType)
		frame = protowire.AppendBytes(frame, trace)
		return s.write(frame, true)
	}
	// OTLP JSON of td is {"resourceSpans": [...]}: the trace object as is.
	trace, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		return err
	}
	line, err := json.Marshal(struct {
		TraceID string          `json:"traceID"`
		Trace   json.RawMessage `json:"trace"`
	}{hex.EncodeToString(id[:]), trace})
	if err != nil {
		return err
	}
	return s.write(line, true)
}

// finish writes the last record of a lookup that ran to the end.
func (s *batchStream) finish(sum querier.BatchSummary) error {
	if s.protobuf {
		var frame []byte
		for _, id := range sum.NotFound {
			frame = protowire.AppendTag(frame, batchFieldNotFound, protowire.BytesType)
			frame = protowire.AppendBytes(frame, id[:])
		}
		metrics := protowire.AppendTag(nil, metricsFieldInspectedBytes, protowire.VarintType)
		metrics = protowire.AppendVarint(metrics, uint64(sum.InspectedBytes))
		metrics = protowire.AppendTag(metrics, batchMetricsFieldInspectedBlocks, protowire.VarintType)
		metrics = protowire.AppendVarint(metrics, uint64(sum.InspectedBlocks))
		frame = protowire.AppendTag(frame, batchFieldMetrics, protowire.BytesType)
		frame = protowire.AppendBytes(frame, metrics)
		if sum.Partial.IsPartial() {
			frame = appendPartialStatus(frame, batchFieldStatus, batchFieldMessage, sum.Partial)
		}
		return s.write(frame, false)
	}
	type metricsJSON struct {
		// 64-bit integers are strings in protobuf JSON.
		InspectedBytes  string `json:"inspectedBytes"`
		InspectedBlocks string `json:"inspectedBlocks"`
	}
	last := struct {
		NotFound []string    `json:"notFound"`
		Metrics  metricsJSON `json:"metrics"`
		Status   string      `json:"status,omitempty"`
		Message  string      `json:"message,omitempty"`
	}{
		NotFound: make([]string, len(sum.NotFound)),
		Metrics: metricsJSON{
			InspectedBytes:  strconv.FormatInt(sum.InspectedBytes, 10),
			InspectedBlocks: strconv.FormatInt(sum.InspectedBlocks, 10),
		},
	}
	for i, id := range sum.NotFound {
		last.NotFound[i] = hex.EncodeToString(id[:])
	}
	if sum.Partial.IsPartial() {
		last.Status, last.Message = "PARTIAL", sum.Partial.Message()
	}
	line, err := json.Marshal(last)
	if err != nil {
		return err
	}
	return s.write(line, false)
}

// fail writes the last record of a lookup that failed after the stream
// started.
func (s *batchStream) fail(cause error) error {
	if s.protobuf {
		frame := protowire.AppendTag(nil, batchFieldError, protowire.BytesType)
		return s.write(protowire.AppendString(frame, cause.Error()), false)
	}
	line, err := json.Marshal(struct {
		Error string `json:"error"`
	}{cause.Error()})
	if err != nil {
		return err
	}
	return s.write(line, false)
}

// write writes one record and flushes it to the client; a limited one
// only if the body stays within the response limit.
func (s *batchStream) write(record []byte, limited bool) error {
	var out []byte
	if s.protobuf {
		out = protowire.AppendBytes(nil, record)
	} else {
		out = append(record, '\n')
	}
	if limited {
		if err := s.limit.Check(s.sent + len(out)); err != nil {
			return fmt.Errorf("stopped before the next trace: %w", err)
		}
	}
	if !s.started {
		mediaType := mediaNDJSON
		if s.protobuf {
			mediaType = mediaProtobuf
		}
		s.w.Header().Set("Content-Type", mediaType)
		s.started = true
	}
	n, err := s.w.Write(out)
	s.sent += n
	if err != nil {
		return err
	}
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

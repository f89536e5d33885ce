// Package otlptest builds hostile OTLP requests for tests, ones no OTLP
// encoder would produce, and sends them as they are.
package otlptest

import (
	"bytes"
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // for grpc.UseCompressor("gzip")
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// DeepArrayRequest returns an ExportTraceServiceRequest in protobuf whose
// one span has an attribute nesting levels arrays. It is written from the
// outside in, with the sizes computed first, as no encoder could: each
// would recurse once per level. 1.5 million levels take about 13 MB, a few
// KB gzipped.
func DeepArrayRequest(levels int) []byte {
	leaf := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "leaf") // AnyValue.string_value
	// sizes[i] is the size of the AnyValue nesting i arrays.
	sizes := make([]int, levels+1)
	sizes[0] = len(leaf)
	for i := 1; i <= levels; i++ {
		array := 1 + protowire.SizeBytes(sizes[i-1]) // ArrayValue.values
		sizes[i] = 1 + protowire.SizeBytes(array)    // AnyValue.array_value
	}
	value := make([]byte, 0, sizes[levels])
	for i := levels; i > 0; i-- {
		value = protowire.AppendTag(value, 5, protowire.BytesType)
		value = protowire.AppendVarint(value, uint64(1+protowire.SizeBytes(sizes[i-1])))
		value = protowire.AppendTag(value, 1, protowire.BytesType)
		value = protowire.AppendVarint(value, uint64(sizes[i-1]))
	}
	value = append(value, leaf...)

	field := func(b []byte, num protowire.Number, inner []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), inner)
	}
	kv := field(field(nil, 1, []byte("deep")), 2, value)                                     // KeyValue{key, value}
	span := field(field(nil, 1, bytes.Repeat([]byte{1}, 16)), 2, bytes.Repeat([]byte{2}, 8)) // trace ID, span ID
	span = field(span, 9, kv)                                                                // Span.attributes
	return field(nil, 1, field(nil, 2, field(nil, 2, span)))                                 // request, ResourceSpans, ScopeSpans
}

// DeepArrayRequestJSON is DeepArrayRequest in OTLP/JSON.
func DeepArrayRequestJSON(levels int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01010101010101010101010101010101","spanId":"0202020202020202",` +
		`"attributes":[{"key":"deep","value":`)
	for range levels {
		b.WriteString(`{"arrayValue":{"values":[`)
	}
	b.WriteString(`{"stringValue":"leaf"}`)
	for range levels {
		b.WriteString(`]}}`)
	}
	b.WriteString(`}]}]}]}]}`)
	return b.Bytes()
}

// JSONLevelBytes is what one level of DeepArrayRequestJSON takes.
const JSONLevelBytes = len(`{"arrayValue":{"values":[]}}`)

// ExportGRPC sends body, gzipped, to target's OTLP/gRPC trace service as
// it is.
func ExportGRPC(ctx context.Context, target string, body []byte) error {
	cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(bytesCodec{}), grpc.UseCompressor("gzip")))
	if err != nil {
		return err
	}
	defer cc.Close()
	var reply []byte
	return cc.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", body, &reply)
}

// bytesCodec sends and receives messages as the bytes they are.
type bytesCodec struct{}

func (bytesCodec) Name() string { return "proto" }

func (bytesCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("marshal %T: want []byte", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (bytesCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("unmarshal into %T: want *[]byte", v)
	}
	*b = data.Materialize()
	return nil
}

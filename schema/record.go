package schema

import (
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/spanlog/spanlog/tenant"
)

// Record headers. A record's value is a plain OTLP ExportTraceServiceRequest
// in protobuf, so any Kafka tool that speaks OTLP (kcat piped to a decoder,
// the OpenTelemetry Collector's kafka receiver with otlp_proto encoding) can
// read the topic, and records written by a Collector's kafka exporter, which
// carry no headers, can be consumed by spanlog.
const (
	// HeaderTenant names the tenant the record's spans belong to.
	HeaderTenant = "spanlog-tenant"
	// HeaderFormat is the record format version.
	HeaderFormat = "spanlog-format"

	// RecordFormatV1 is an OTLP ExportTraceServiceRequest in protobuf.
	RecordFormatV1 = "1"
)

// ErrUnknownFormat is returned for a record whose format header names a
// version this build cannot read.
var ErrUnknownFormat = errors.New("unknown record format")

// ErrNoSpans is returned by DecodeRecord for a record that decodes but
// carries no span, such as an empty value: there is nothing in it to store
// or answer. The distributor never writes one; another producer could.
var ErrNoSpans = errors.New("record holds no spans")

// EncodeRecord returns the record holding td's spans for tenant. The caller
// sets the partition.
func EncodeRecord(tenant string, td ptrace.Traces) (*kgo.Record, error) {
	var m ptrace.ProtoMarshaler
	value, err := m.MarshalTraces(td)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	return NewRecord(tenant, value), nil
}

// NewRecord returns the record of tenant whose value is value, an OTLP
// ExportTraceServiceRequest in protobuf, as a writer that builds values
// itself makes them (the distributor copies a request's bytes). The
// caller sets the partition.
func NewRecord(tenant string, value []byte) *kgo.Record {
	return &kgo.Record{
		Key:   []byte(tenant),
		Value: value,
		Headers: []kgo.RecordHeader{
			{Key: HeaderTenant, Value: []byte(tenant)},
			{Key: HeaderFormat, Value: []byte(RecordFormatV1)},
		},
	}
}

// RecordTenancy says whom a record belongs to when it does not say so in
// spanlog's tenant header: a record another writer put in the topic, such
// as an OpenTelemetry Collector's kafka exporter.
type RecordTenancy struct {
	// Default is the tenant of a record that names none.
	Default string
	// ForeignHeader, when set, names the header (matched without regard
	// to case) whose value is the tenant of a record without spanlog's
	// headers; such a record without it belongs to Default. A record
	// spanlog's distributor wrote is never read by it.
	ForeignHeader string
}

// Foreign reports whether r was written by another writer than spanlog's
// distributor, which marks every record with its format header.
func Foreign(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == HeaderFormat {
			return false
		}
	}
	return true
}

// RecordTenant returns the tenant a record belongs to, from its headers
// alone: its tenant header; for a foreign record without one, the value of
// the header t.ForeignHeader names, when set and present; else t.Default.
// A format this build cannot read, or a header that is no valid tenant
// ID, is an error: its spans could be stored under no name, and a reader
// retrying them would stall.
// Readers use it to sort records by tenant without decoding them.
func RecordTenant(r *kgo.Record, t RecordTenancy) (string, error) {
	for _, h := range r.Headers {
		if h.Key == HeaderFormat && string(h.Value) != RecordFormatV1 {
			return "", fmt.Errorf("%w %q at partition %d offset %d", ErrUnknownFormat, h.Value, r.Partition, r.Offset)
		}
	}
	for _, h := range r.Headers {
		if h.Key == HeaderTenant && len(h.Value) > 0 {
			return headerTenant(r, h)
		}
	}
	if t.ForeignHeader != "" && Foreign(r) {
		for _, h := range r.Headers {
			if strings.EqualFold(h.Key, t.ForeignHeader) && len(h.Value) > 0 {
				return headerTenant(r, h)
			}
		}
	}
	return t.Default, nil
}

// headerTenant returns the tenant header h of r names.
func headerTenant(r *kgo.Record, h kgo.RecordHeader) (string, error) {
	if err := tenant.ValidateID(string(h.Value)); err != nil {
		return "", fmt.Errorf("record at partition %d offset %d: header %s: %w", r.Partition, r.Offset, h.Key, err)
	}
	return string(h.Value), nil
}

// DecodeRecord returns the spans a record carries and the tenant they belong
// to (see RecordTenant). A record that does not decode, or holds no span
// (ErrNoSpans), is an error: a reader skips it and moves on, because
// reading it again can only fail again.
func DecodeRecord(r *kgo.Record, t RecordTenancy) (string, ptrace.Traces, error) {
	tn, err := RecordTenant(r, t)
	if err != nil {
		return "", ptrace.Traces{}, err
	}
	td, err := DecodeSpans(r.Value)
	if err != nil {
		return "", ptrace.Traces{}, fmt.Errorf("record at partition %d offset %d: %w", r.Partition, r.Offset, err)
	}
	return tn, td, nil
}

// DecodeRecordRows is DecodeRecord with the spans decoded into rows,
// appended to rows by dec.
func DecodeRecordRows(dec *RowDecoder, rows []SpanRow, r *kgo.Record, t RecordTenancy) (string, []SpanRow, error) {
	tn, err := RecordTenant(r, t)
	if err != nil {
		return "", rows, err
	}
	n := len(rows)
	rows, err = dec.Append(rows, r.Value)
	if err == nil && len(rows) == n {
		err = ErrNoSpans
	}
	if err != nil {
		return "", rows, fmt.Errorf("record at partition %d offset %d: %w", r.Partition, r.Offset, err)
	}
	return tn, rows, nil
}

// DecodeSpans returns the spans of a record's value. A value that does not
// decode, or holds no span (ErrNoSpans), is an error, as for DecodeRecord.
func DecodeSpans(value []byte) (ptrace.Traces, error) {
	var u ptrace.ProtoUnmarshaler
	td, err := u.UnmarshalTraces(value)
	if err != nil {
		return ptrace.Traces{}, fmt.Errorf("decode record: %w", err)
	}
	if td.SpanCount() == 0 {
		return ptrace.Traces{}, ErrNoSpans
	}
	return td, nil
}

package producer

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config configures a Distributor.
type Config struct {
	// GRPCListenAddress is where OTLP/gRPC is served. Default ":4317".
	GRPCListenAddress string `yaml:"grpc-listen-address" help:"Address of the OTLP/gRPC receiver."`
	// HTTPListenAddress is where OTLP/HTTP is served. Default ":4318".
	HTTPListenAddress string `yaml:"http-listen-address" help:"Address of the OTLP/HTTP receiver."`
	// MaxRecordBytes bounds a Kafka record batch holding one record, headers
	// and framing included: requests are split into records below it, and a
	// single trace above it is rejected. It must not exceed the broker's
	// message.max.bytes (Kafka's default is 1 MiB + 12 bytes). Default 1 MiB.
	MaxRecordBytes int64 `yaml:"max-record-bytes" help:"Largest Kafka record written, in bytes; must not exceed the broker's message.max.bytes."`
	// WriteTimeout bounds the wait for Kafka's ack of a request's records
	// and, with the embedded Kafka, for their fsync; past it the client
	// gets Unavailable and retries. Default 5s.
	WriteTimeout time.Duration `yaml:"write-timeout" help:"How long a request waits for Kafka to acknowledge its records (and the embedded Kafka to sync them to disk)."`
	// MaxRequestBytes bounds a request: an OTLP/HTTP body (before and after
	// decompression) and an OTLP/gRPC message. Default 16 MiB.
	MaxRequestBytes int64 `yaml:"max-request-bytes" help:"Largest OTLP request accepted, in bytes."`
	// MaxRequestRecordBytes bounds the Kafka records one request becomes,
	// framing included. Each record repeats the resources and scopes of
	// its spans, so a request of one large resource shared by many traces
	// would become many copies of it: a 14.6 MB request was once 1.7 GB.
	// Record sizes are computed before anything is copied, and a request
	// over the bound is refused with ResourceExhausted / 413. It must be
	// at least MaxRequestBytes. Default 32 MiB.
	MaxRequestRecordBytes int64 `yaml:"max-request-record-bytes" help:"Most bytes of Kafka records one request may become; larger requests are refused."`
	// MaxBufferedBytes bounds the records waiting for Kafka's ack, keys,
	// values and headers counted: while Kafka is down or slow, a request
	// that would go over it fails at once with Unavailable instead of
	// adding to the distributor's memory. It must hold at least one
	// request of MaxRequestRecordBytes. Default 256 MiB.
	MaxBufferedBytes int64 `yaml:"max-buffered-bytes" help:"Most bytes of records waiting for Kafka; requests beyond it fail with Unavailable."`
	// MaxAttributeDepth bounds how deep an attribute value nests arrays
	// and maps: a string has depth 0, an array of strings 1, a map
	// holding that array 2. A request nesting deeper is refused with
	// InvalidArgument before it is decoded, since decoding recurses once
	// per level. Instrumentation nests a few levels at most; 0 allows no
	// arrays and maps at all. Default 32; at most 1000, which keeps every
	// record decodable by protobuf libraries (protobuf-go stops at 10,000
	// nested messages; a level is up to 3).
	MaxAttributeDepth int `yaml:"max-attribute-depth" help:"Deepest nesting of arrays and maps in an attribute value; deeper requests are refused."`
}

// DefaultConfig returns the configuration that listens on the standard OTLP
// ports.
func DefaultConfig() Config {
	return Config{
		GRPCListenAddress:     ":4317",
		HTTPListenAddress:     ":4318",
		MaxRecordBytes:        1 << 20,
		WriteTimeout:          5 * time.Second,
		MaxRequestBytes:       16 << 20,
		MaxRequestRecordBytes: 32 << 20,
		MaxBufferedBytes:      256 << 20,
		MaxAttributeDepth:     32,
	}
}

// Bounds of MaxRecordBytes: below the minimum a record holds little more
// than its headers; the maximum is franz-go's limit on a record batch.
const (
	minRecordBytes = 1 << 10
	maxRecordBytes = 1 << 30
)

// maxRequestBytes is the largest protobuf message there can be.
const maxRequestBytes = math.MaxInt32

// maxAttributeDepth bounds MaxAttributeDepth (see there).
const maxAttributeDepth = 1000

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.GRPCListenAddress == "":
		return errors.New("distributor: no gRPC listen address")
	case c.HTTPListenAddress == "":
		return errors.New("distributor: no HTTP listen address")
	case c.MaxRecordBytes < minRecordBytes || c.MaxRecordBytes > maxRecordBytes:
		return fmt.Errorf("distributor: max record bytes must be in [%d, %d], got %d", minRecordBytes, maxRecordBytes, c.MaxRecordBytes)
	case c.WriteTimeout <= 0:
		return fmt.Errorf("distributor: write timeout must be positive, got %v", c.WriteTimeout)
	case c.MaxRequestBytes <= 0 || c.MaxRequestBytes > maxRequestBytes:
		return fmt.Errorf("distributor: max request bytes must be in [1, %d], got %d", maxRequestBytes, c.MaxRequestBytes)
	case c.MaxRequestRecordBytes < c.MaxRequestBytes:
		return fmt.Errorf("distributor: max request record bytes (%d) must be at least max request bytes (%d)", c.MaxRequestRecordBytes, c.MaxRequestBytes)
	case c.MaxBufferedBytes < c.MaxRequestRecordBytes:
		// Else a large request could never be buffered, yet be told to
		// retry forever.
		return fmt.Errorf("distributor: max buffered bytes (%d) must be at least max request record bytes (%d)", c.MaxBufferedBytes, c.MaxRequestRecordBytes)
	case c.MaxAttributeDepth < 0 || c.MaxAttributeDepth > maxAttributeDepth:
		return fmt.Errorf("distributor: max attribute depth must be in [0, %d], got %d", maxAttributeDepth, c.MaxAttributeDepth)
	}
	return nil
}

package tracelog

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Codecs of Config.Compression.
const (
	CompressionNone   = "none"
	CompressionSnappy = "snappy"
	CompressionLZ4    = "lz4"
	CompressionZstd   = "zstd"
)

var compressions = []string{CompressionNone, CompressionSnappy, CompressionLZ4, CompressionZstd}

func checkCompression(c string) error {
	if c == "" || slices.Contains(compressions, c) {
		return nil
	}
	return fmt.Errorf("kafka: compression %q is not one of %s", c, strings.Join(compressions, ", "))
}

// ProducerCompression returns the option that makes a writer compress its
// record batches with Compression; empty means snappy.
func (c Config) ProducerCompression() kgo.Opt {
	codec := kgo.SnappyCompression()
	switch c.Compression {
	case CompressionNone:
		codec = kgo.NoCompression()
	case CompressionLZ4:
		codec = kgo.Lz4Compression()
	case CompressionZstd:
		codec = kgo.ZstdCompression()
	}
	return kgo.ProducerBatchCompression(codec)
}

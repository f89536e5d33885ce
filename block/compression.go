package block

import (
	"fmt"
	"reflect"
	"sync"

	kzstd "github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/format"

	"github.com/spanlog/spanlog/schema"
)

// Compression levels of Options.CompressionLevel.
const (
	CompressionFastest = "fastest"
	CompressionDefault = "default"
	CompressionBetter  = "better"
	// CompressionFastestRawLiterals is the fastest level with the
	// literals (the bytes no earlier match repeats) stored as they are
	// rather than Huffman-coded: the frames are ordinary zstd frames.
	CompressionFastestRawLiterals = "fastest-raw-literals"
)

// levelSchemas holds, for each compression level but the default, the
// schema of schema.SpanRowV3 with its columns compressed at that level. It
// is built once: each codec keeps its encoders from one file to the next,
// as parquet.Zstd, the default level's, does.
var levelSchemas = map[string]*parquet.Schema{
	CompressionFastest: recompressedSchema(&zstd.Codec{Level: zstd.SpeedFastest}),
	CompressionBetter:  recompressedSchema(&zstd.Codec{Level: zstd.SpeedBetterCompression}),
	// Huffman-coding the literals of every page took a third of zstd's
	// time at its fastest level: about 0.5 µs per span, for 6 to 12%
	// of the block's bytes.
	CompressionFastestRawLiterals: recompressedSchema(&rawLiteralsCodec{}),
}

// levelSchema returns the schema rows are written with at level: that of
// schema.SpanRowV3's parquet tags at the default level, and at the others
// the same columns compressed at level. The schemas' nodes are equal, so
// that the writer maps the struct's fields straight onto the columns
// either way.
func levelSchema(level string) *parquet.Schema {
	if s, ok := levelSchemas[level]; ok {
		return s
	}
	return parquet.SchemaOf(schema.SpanRowV3{})
}

func checkLevel(level string) error {
	switch level {
	case "", CompressionFastest, CompressionDefault, CompressionBetter, CompressionFastestRawLiterals:
		return nil
	}
	return fmt.Errorf("compression level %q is none of %s, %s, %s and %s", level,
		CompressionFastestRawLiterals, CompressionFastest, CompressionDefault, CompressionBetter)
}

// rawLiteralsCodec compresses with zstd at its fastest level, leaving
// literals uncoded (CompressionFastestRawLiterals). Any zstd decoder reads
// what it writes; parquet-go's decodes it here too.
type rawLiteralsCodec struct {
	encoders sync.Pool // of *kzstd.Encoder
	decoder  zstd.Codec
}

func (c *rawLiteralsCodec) String() string { return c.decoder.String() }

func (c *rawLiteralsCodec) CompressionCodec() format.CompressionCodec {
	return c.decoder.CompressionCodec()
}

func (c *rawLiteralsCodec) Encode(dst, src []byte) ([]byte, error) {
	e, _ := c.encoders.Get().(*kzstd.Encoder)
	if e == nil {
		var err error
		// The options of parquet-go's own zstd codec, but for the
		// literals'.
		e, err = kzstd.NewWriter(nil,
			kzstd.WithEncoderConcurrency(1),
			kzstd.WithEncoderLevel(kzstd.SpeedFastest),
			kzstd.WithZeroFrames(true),
			kzstd.WithEncoderCRC(false),
			kzstd.WithNoEntropyCompression(true),
		)
		if err != nil {
			return nil, fmt.Errorf("zstd encoder: %w", err)
		}
	}
	defer c.encoders.Put(e)
	return e.EncodeAll(src, dst[:0]), nil
}

func (c *rawLiteralsCodec) Decode(dst, src []byte) ([]byte, error) {
	return c.decoder.Decode(dst, src)
}

func recompressedSchema(codec compress.Codec) *parquet.Schema {
	s := parquet.SchemaOf(schema.SpanRowV3{})
	return parquet.NewSchema(s.Name(), recompressed(s, codec))
}

// recompressed returns node with codec in place of the codec of each of
// its compressed leaves, and nothing else changed.
func recompressed(node parquet.Node, codec compress.Codec) parquet.Node {
	if node.Leaf() {
		if node.Compression() == nil {
			return node
		}
		return parquet.Compressed(node, codec)
	}
	fields := node.Fields()
	g := &recompressedGroup{Node: node, fields: make([]parquet.Field, len(fields))}
	for i, f := range fields {
		g.fields[i] = recompressedField{Node: recompressed(f, codec), field: f}
	}
	return g
}

// recompressedGroup is a group of recompressed fields. Unlike a
// parquet.Group, which sorts its fields by name, it keeps their order:
// the struct's, which the columns follow.
type recompressedGroup struct {
	parquet.Node
	fields []parquet.Field
}

func (g *recompressedGroup) Fields() []parquet.Field { return g.fields }

// recompressedField is a recompressed node under its field's name.
type recompressedField struct {
	parquet.Node
	field parquet.Field
}

func (f recompressedField) Name() string                           { return f.field.Name() }
func (f recompressedField) Value(base reflect.Value) reflect.Value { return f.field.Value(base) }

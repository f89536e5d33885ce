package block

import (
	"fmt"
	"reflect"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/spanlog/spanlog/schema"
)

// Compression levels of Options.CompressionLevel.
const (
	CompressionFastest = "fastest"
	CompressionDefault = "default"
	CompressionBetter  = "better"
)

// levelSchemas holds, for each compression level but the default, the
// schema of schema.SpanRow with its columns compressed at that level. It
// is built once: each codec keeps its encoders from one file to the next,
// as parquet.Zstd, the default level's, does.
var levelSchemas = map[string]*parquet.Schema{
	CompressionFastest: recompressedSchema(&zstd.Codec{Level: zstd.SpeedFastest}),
	CompressionBetter:  recompressedSchema(&zstd.Codec{Level: zstd.SpeedBetterCompression}),
}

// levelSchema returns the schema rows are written with at level: that of
// schema.SpanRow's parquet tags at the default level, and at the others
// the same columns compressed at level. The schemas' nodes are equal, so
// that the writer maps the struct's fields straight onto the columns
// either way.
func levelSchema(level string) *parquet.Schema {
	if s, ok := levelSchemas[level]; ok {
		return s
	}
	return parquet.SchemaOf(schema.SpanRow{})
}

func checkLevel(level string) error {
	switch level {
	case "", CompressionFastest, CompressionDefault, CompressionBetter:
		return nil
	}
	return fmt.Errorf("compression level %q is none of %s, %s and %s", level, CompressionFastest, CompressionDefault, CompressionBetter)
}

func recompressedSchema(codec compress.Codec) *parquet.Schema {
	s := parquet.SchemaOf(schema.SpanRow{})
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

package schema

import (
	"testing"

	"github.com/parquet-go/parquet-go"
)

// TestColumnNames checks that every column name constant names a leaf
// column of a block's schema, so a renamed parquet tag fails here rather
// than in a reader that no longer finds its column.
func TestColumnNames(t *testing.T) {
	sch := parquet.SchemaOf(SpanRow{})
	for _, path := range [][]string{
		{ColumnTraceID}, {ColumnSpanID}, {ColumnParentSpanID}, {ColumnName}, {ColumnKind},
		{ColumnStart}, {ColumnDuration}, {ColumnStatusCode}, {ColumnStatusMessage}, {ColumnServiceName},
		{ColumnHTTPMethod}, {ColumnHTTPURL},
		{ColumnTrace, SummaryID}, {ColumnTrace, SummaryStart}, {ColumnTrace, SummaryEnd},
		{ColumnTrace, SummarySpans}, {ColumnTrace, SummaryErrors},
		{ColumnTrace, SummaryRoot, RootParentless}, {ColumnTrace, SummaryRoot, RootStart},
		{ColumnTrace, SummaryRoot, RootSpanID}, {ColumnTrace, SummaryRoot, RootName},
		{ColumnTrace, SummaryRoot, RootService},
	} {
		if c, ok := sch.Lookup(path...); !ok || !c.Node.Leaf() {
			t.Errorf("no leaf column %v in the block schema", path)
		}
	}
	for _, list := range []string{ColumnAttrs, ColumnResourceAttrs} {
		for _, leaf := range []string{LeafKey, LeafStr, LeafInt, LeafDouble, LeafBool, LeafBytes, LeafAny} {
			if c, ok := sch.Lookup(list, leaf); !ok || !c.Node.Leaf() {
				t.Errorf("no leaf column %s.%s in the block schema", list, leaf)
			}
		}
	}
}

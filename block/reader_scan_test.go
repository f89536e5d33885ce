package block_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/spanlog/spanlog/block"
	"github.com/spanlog/spanlog/schema"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// TestScan checks that each projection fills in exactly the fields it
// promises, equal to the full rows, and reads less than a full iteration.
func TestScan(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(31, 32)), 100)
	bkt := &countingBucket{Bucket: newDir(t)}
	r := writeBlock(t, bkt, smallOptions(), td)

	var full []schema.SpanRow
	bkt.bytes.Store(0)
	if err := r.Iterate(ctx, func(row *schema.SpanRow) error {
		full = append(full, *row)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	fullBytes := bkt.bytes.Load()

	flat := block.SpanIDs | block.Name | block.Kind | block.Duration | block.Status | block.ServiceName
	for _, cols := range []block.Columns{0, block.Name | block.Duration, block.ServiceName | block.Status, flat, block.SpanAttrs, block.ResourceAttrs, flat | block.SpanAttrs | block.ResourceAttrs} {
		want := make([]schema.SpanRow, len(full))
		for i, f := range full {
			w := schema.SpanRow{TraceID: f.TraceID, StartUnixNano: f.StartUnixNano}
			if cols&block.SpanIDs != 0 {
				w.SpanID, w.ParentSpanID = f.SpanID, f.ParentSpanID
			}
			if cols&block.Name != 0 {
				w.Name = f.Name
			}
			if cols&block.Kind != 0 {
				w.Kind = f.Kind
			}
			if cols&block.Duration != 0 {
				w.DurationNano = f.DurationNano
			}
			if cols&block.Status != 0 {
				w.StatusCode, w.StatusMessage = f.StatusCode, f.StatusMessage
			}
			if cols&block.ServiceName != 0 {
				w.ServiceName = f.ServiceName
			}
			want[i] = w
			if cols&block.SpanAttrs != 0 {
				want[i].Attrs = f.Attrs
			}
			if cols&block.ResourceAttrs != 0 {
				want[i].ResourceAttrs = f.ResourceAttrs
			}
		}
		bkt.bytes.Store(0)
		i := 0
		err := r.Scan(ctx, block.ScanOptions{Columns: cols}, func(row *schema.SpanRow) error {
			if i >= len(want) {
				return errors.New("more rows than the block holds")
			}
			if !rowsEqual(row, &want[i]) {
				t.Fatalf("columns %b, row %d:\n got %+v\nwant %+v", cols, i, *row, want[i])
			}
			i++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if i != len(want) {
			t.Fatalf("columns %b: scanned %d rows, want %d", cols, i, len(want))
		}
		if read := bkt.bytes.Load(); read >= fullBytes {
			t.Errorf("columns %b: read %d bytes, a full iteration %d", cols, read, fullBytes)
		}
		t.Logf("columns %b: %d bytes read, full rows %d", cols, bkt.bytes.Load(), fullBytes)
	}
}

func rowsEqual(a, b *schema.SpanRow) bool {
	attrsEqual := func(x, y []schema.Attribute) bool {
		return slices.EqualFunc(x, y, func(p, q schema.Attribute) bool {
			return p.Key == q.Key && ptrEqual(p.Str, q.Str) && ptrEqual(p.Int, q.Int) &&
				ptrEqual(p.Double, q.Double) && ptrEqual(p.Bool, q.Bool) &&
				slices.Equal(p.Bytes, q.Bytes) && slices.Equal(p.Any, q.Any)
		})
	}
	x, y := *a, *b
	x.Attrs, x.ResourceAttrs, y.Attrs, y.ResourceAttrs = nil, nil, nil, nil
	return x.TraceID == y.TraceID && x.SpanID == y.SpanID && x.ParentSpanID == y.ParentSpanID &&
		x.Name == y.Name && x.Kind == y.Kind && x.StartUnixNano == y.StartUnixNano &&
		x.DurationNano == y.DurationNano && x.StatusCode == y.StatusCode &&
		x.StatusMessage == y.StatusMessage && x.ServiceName == y.ServiceName &&
		x.HTTPStatusCode == nil && y.HTTPStatusCode == nil && x.HTTPURL == y.HTTPURL &&
		len(x.Events) == 0 && len(y.Events) == 0 &&
		attrsEqual(a.Attrs, b.Attrs) && attrsEqual(a.ResourceAttrs, b.ResourceAttrs)
}

func ptrEqual[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// TestScanSkipsGroups checks that a row group skip rules out is not read,
// and that the statistics skip sees are those of the group.
func TestScanSkipsGroups(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(33, 34)), 100)
	bkt := &countingBucket{Bucket: newDir(t)}
	r := writeBlock(t, bkt, smallOptions(), td)

	// The bounds each group's statistics give must hold its rows.
	var groups []struct{ lo, hi int64 }
	var rows int64
	err := r.Scan(ctx, block.ScanOptions{Columns: block.Duration, Skip: func(s block.GroupStats) bool {
		lo, hi, ok := s.Int64Bounds(schema.ColumnDuration)
		if !ok {
			t.Fatal("no duration statistics")
		}
		if _, _, ok := s.StringBounds(schema.ColumnName); !ok {
			t.Fatal("no name statistics")
		}
		groups = append(groups, struct{ lo, hi int64 }{lo, hi})
		rows += s.NumRows()
		return false
	}}, func(row *schema.SpanRow) error {
		g := groups[len(groups)-1]
		if row.DurationNano < g.lo || row.DurationNano > g.hi {
			t.Fatalf("duration %d outside its group's bounds [%d, %d]", row.DurationNano, g.lo, g.hi)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) < 2 || rows != int64(td.SpanCount()) {
		t.Fatalf("%d groups of %d rows in all, want several of %d", len(groups), rows, td.SpanCount())
	}

	bkt.bytes.Store(0)
	err = r.Scan(ctx, block.ScanOptions{Skip: func(block.GroupStats) bool { return true }}, func(*schema.SpanRow) error {
		return errors.New("a skipped group was read")
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := bkt.bytes.Load(); n != 0 {
		t.Errorf("skipping every group read %d bytes", n)
	}
}

func TestScanStopsWhenCancelled(t *testing.T) {
	td := genTraces(rand.New(rand.NewPCG(35, 36)), 100)
	r := writeBlock(t, newDir(t), smallOptions(), td)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := r.Scan(ctx, block.ScanOptions{}, func(*schema.SpanRow) error {
		n++
		if n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("scan ended with %v, want context.Canceled", err)
	}
	if n >= td.SpanCount() {
		t.Errorf("scan went on for all %d rows after the cancel", n)
	}
}

// TestScanTraces checks that ScanTraces gives the rows FindTraceRows gives,
// in the fields it reads, for traces a row group boundary splits too.
func TestScanTraces(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(37, 38)), 150)
	r := writeBlock(t, newDir(t), smallOptions(), td)
	ids := r.SplitTraces()
	if len(ids) == 0 {
		t.Fatal("no trace crosses a row group boundary")
	}
	for id := range spansByTrace(t, td) {
		if len(ids) < 40 && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	ids = append(ids, pcommon.TraceID{1, 2, 3}) // not in the block

	want := map[pcommon.TraceID][]schema.SpanRow{}
	if err := r.FindTraceRows(ctx, ids, func(id pcommon.TraceID, rows []schema.SpanRow) error {
		for i := range rows {
			rows[i].Events, rows[i].Links, rows[i].ScopeAttrs = nil, nil, nil
		}
		want[id] = rows
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	all := block.SpanIDs | block.Name | block.Kind | block.Duration | block.Status | block.ServiceName | block.SpanAttrs | block.ResourceAttrs
	got := map[pcommon.TraceID][]schema.SpanRow{}
	var last pcommon.TraceID
	err := r.ScanTraces(ctx, all, nil, ids, func(id pcommon.TraceID, rows []schema.SpanRow) error {
		if bytes.Compare(id[:], last[:]) <= 0 {
			return fmt.Errorf("trace %s after %s", id, last)
		}
		last = id
		got[id] = rows
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(got) != len(ids)-1 {
		t.Fatalf("found %d traces, FindTraceRows %d, want %d", len(got), len(want), len(ids)-1)
	}
	for id, rows := range want {
		g := got[id]
		if len(g) != len(rows) {
			t.Fatalf("trace %s: %d rows, want %d", id, len(g), len(rows))
		}
		for i := range rows {
			w := rows[i]
			w.TraceState, w.Flags, w.HTTPMethod, w.HTTPStatusCode, w.HTTPURL = "", 0, "", nil, ""
			w.ResourceSchemaURL, w.ScopeName, w.ScopeVersion, w.ScopeSchemaURL = "", "", "", ""
			w.DroppedAttributesCount, w.DroppedEventsCount, w.DroppedLinksCount = 0, 0, 0
			w.ResourceDroppedAttributesCount, w.ScopeDroppedAttributesCount = 0, 0
			if !rowsEqual(&g[i], &w) {
				t.Fatalf("trace %s row %d:\n got %+v\nwant %+v", id, i, g[i], w)
			}
		}
	}
}

func TestScanAttributeKeys(t *testing.T) {
	td := genTraces(rand.New(rand.NewPCG(39, 40)), 50)
	r := writeBlock(t, newDir(t), smallOptions(), td)
	keys := []string{"http.response.status_code", "service.name"}
	rows := 0
	err := r.Scan(context.Background(), block.ScanOptions{Columns: block.SpanAttrs | block.ResourceAttrs, AttributeKeys: keys}, func(row *schema.SpanRow) error {
		rows++
		if len(row.Attrs) != 1 || row.Attrs[0].Key != keys[0] || row.Attrs[0].Int == nil {
			return fmt.Errorf("span attributes %+v, want %s alone", row.Attrs, keys[0])
		}
		if len(row.ResourceAttrs) != 1 || row.ResourceAttrs[0].Key != keys[1] || row.ResourceAttrs[0].Str == nil {
			return fmt.Errorf("resource attributes %+v, want %s alone", row.ResourceAttrs, keys[1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows != td.SpanCount() {
		t.Fatalf("scanned %d rows, want %d", rows, td.SpanCount())
	}
}

// TestScanWhere: a scan with row tests hands out exactly the rows a full
// scan does that pass them all, whether they keep every row, runs of
// them, rows far apart (stepped over by page), or none; on integer,
// dictionary-encoded, plain and optional columns alike.
func TestScanWhere(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(41, 42)), 300)
	bkt := &countingBucket{Bucket: newDir(t)}
	r := writeBlock(t, bkt, smallOptions(), td)
	cols := block.SpanIDs | block.Name | block.Kind | block.Duration | block.Status | block.ServiceName | block.SpanAttrs | block.ResourceAttrs

	var full []schema.SpanRow
	if err := r.Scan(ctx, block.ScanOptions{Columns: cols}, func(row *schema.SpanRow) error {
		kept := *row
		kept.Attrs, kept.ResourceAttrs = slices.Clone(row.Attrs), slices.Clone(row.ResourceAttrs)
		full = append(full, kept)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	someName, some := full[len(full)/2].Name, full[len(full)/3]
	asked := 0
	for _, tc := range []struct {
		name  string
		tests []block.RowTest
	}{
		{"every row", []block.RowTest{{Column: schema.ColumnKind, Keep: func(*schema.SpanRow) bool { return true }}}},
		{"no row", []block.RowTest{{Column: schema.ColumnDuration, Keep: func(*schema.SpanRow) bool { return false }}}},
		{"one in 97", []block.RowTest{{Column: schema.ColumnDuration, Keep: func(r *schema.SpanRow) bool { return r.DurationNano%97 == 0 }}}},
		{"one in 3", []block.RowTest{{Column: schema.ColumnDuration, Keep: func(r *schema.SpanRow) bool { return r.DurationNano%3 == 0 }}}},
		{"one name", []block.RowTest{{Column: schema.ColumnName, Keep: func(r *schema.SpanRow) bool { asked++; return r.Name == someName }}}},
		{"one service, some kinds", []block.RowTest{
			{Column: schema.ColumnServiceName, Keep: func(r *schema.SpanRow) bool { return r.ServiceName == some.ServiceName }},
			{Column: schema.ColumnKind, Keep: func(r *schema.SpanRow) bool { return r.Kind == some.Kind }},
		}},
		{"status codes", []block.RowTest{{Column: schema.ColumnStatusCode, Keep: func(r *schema.SpanRow) bool { return r.StatusCode == some.StatusCode }}}},
		{"no status message", []block.RowTest{{Column: schema.ColumnStatusMessage, Keep: func(r *schema.SpanRow) bool { return r.StatusMessage == "" }}}},
	} {
		var want []schema.SpanRow
	rows:
		for i := range full {
			for _, test := range tc.tests {
				if !test.Keep(&full[i]) {
					continue rows
				}
			}
			want = append(want, full[i])
		}
		asked = 0
		i := 0
		err := r.Scan(ctx, block.ScanOptions{Columns: cols, Where: tc.tests}, func(row *schema.SpanRow) error {
			if i >= len(want) {
				return errors.New("more rows than pass the tests")
			}
			if !rowsEqual(row, &want[i]) {
				return fmt.Errorf("row %d:\n got %+v\nwant %+v", i, *row, want[i])
			}
			i++
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if i != len(want) {
			t.Errorf("%s: %d rows, want %d", tc.name, i, len(want))
		}
		t.Logf("%s: %d of %d rows", tc.name, len(want), len(full))

		// TracesWhere names the traces of those rows, each once, in
		// order, without reading the spans' trace IDs; traces go on
		// across row groups here (300 rows a group).
		var wantIDs, gotIDs [][16]byte
		for i := range want {
			if n := len(wantIDs); n == 0 || wantIDs[n-1] != want[i].TraceID {
				wantIDs = append(wantIDs, want[i].TraceID)
			}
		}
		ok, err := r.TracesWhere(ctx, tc.tests, nil, func(id [16]byte) error {
			gotIDs = append(gotIDs, id)
			return nil
		})
		if err != nil || !ok {
			t.Fatalf("%s: TracesWhere: %v, %v", tc.name, ok, err)
		}
		if !slices.Equal(gotIDs, wantIDs) {
			t.Errorf("%s: TracesWhere gave %d traces, want %d", tc.name, len(gotIDs), len(wantIDs))
		}
		if tc.name == "one name" && (asked == 0 || asked >= len(full)/4) {
			t.Errorf("one name: the test ran %d times for %d rows, not once per distinct name and row group", asked, len(full))
		}
	}
	for _, bad := range []block.RowTest{
		{Column: schema.ColumnTraceID, Keep: func(*schema.SpanRow) bool { return true }},
		{Column: schema.ColumnAttrs, Key: "k"},
	} {
		if err := r.Scan(ctx, block.ScanOptions{Where: []block.RowTest{bad}}, func(*schema.SpanRow) error { return nil }); err == nil {
			t.Errorf("a test of %s, Keep %v: no error", bad.Column, bad.Keep != nil)
		}
	}
}

// TestScanWhereAttribute: a test of one attribute of the span or of its
// resource keeps exactly the rows a test of the whole list keeps, whether
// the rows hold the key or not, of any type, with or without the test
// passing a row that lacks it.
func TestScanWhereAttribute(t *testing.T) {
	ctx := context.Background()
	td := genTraces(rand.New(rand.NewPCG(43, 44)), 300)
	r := writeBlock(t, newDir(t), smallOptions(), td)
	lists := block.SpanAttrs | block.ResourceAttrs
	var full []schema.SpanRow
	keys := map[[2]string]bool{}
	if err := r.Scan(ctx, block.ScanOptions{Columns: lists}, func(row *schema.SpanRow) error {
		kept := *row
		kept.Attrs, kept.ResourceAttrs = slices.Clone(row.Attrs), slices.Clone(row.ResourceAttrs)
		full = append(full, kept)
		for _, a := range row.Attrs {
			keys[[2]string{schema.ColumnAttrs, a.Key}] = true
		}
		for _, a := range row.ResourceAttrs {
			keys[[2]string{schema.ColumnResourceAttrs, a.Key}] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	first := func(l []schema.Attribute, key string) *schema.Attribute {
		for i := range l {
			if l[i].Key == key {
				return &l[i]
			}
		}
		return nil
	}
	keys[[2]string{schema.ColumnAttrs, "no-such-key"}] = true
	checked := 0
	for ck := range keys {
		column, key := ck[0], ck[1]
		list := func(r *schema.SpanRow) []schema.Attribute {
			if column == schema.ColumnAttrs {
				return r.Attrs
			}
			return r.ResourceAttrs
		}
		for name, keep := range map[string]func(a *schema.Attribute) bool{
			// The value's parity, whatever its type: a test that
			// reads the value.
			"value": func(a *schema.Attribute) bool {
				switch {
				case a == nil:
					return false
				case a.Str != nil:
					return len(*a.Str)%2 == 0
				case a.Int != nil:
					return *a.Int%2 == 0
				case a.Double != nil:
					return int(*a.Double)%2 == 0
				case a.Bool != nil:
					return *a.Bool
				}
				return false
			},
			"absent":      func(a *schema.Attribute) bool { return a == nil },
			"even string": func(a *schema.Attribute) bool { return a != nil && a.Str != nil && len(*a.Str)%2 == 0 },
		} {
			var want []int
			for i := range full {
				if keep(first(list(&full[i]), key)) {
					want = append(want, i)
				}
			}
			test := block.RowTest{Column: column, Key: key, Keep: func(r *schema.SpanRow) bool { return keep(first(list(r), key)) }}
			if name == "even string" {
				test.Values = block.AttrStr // the other types are not read
			}
			var got []int
			i := 0
			// Rows are identified by their order: scan the start too
			// and match it against the full scan's.
			err := r.Scan(ctx, block.ScanOptions{Where: []block.RowTest{test}}, func(row *schema.SpanRow) error {
				for ; i < len(full) && (full[i].TraceID != row.TraceID || full[i].StartUnixNano != row.StartUnixNano); i++ {
				}
				got = append(got, i)
				i++
				return nil
			})
			if err != nil {
				t.Fatalf("%s %s %s: %v", column, key, name, err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s %s %s: kept %d rows, want %d", column, key, name, len(got), len(want))
			}
			checked++
		}
	}
	t.Logf("%d tests of %d keys", checked, len(keys))
}

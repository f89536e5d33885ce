package schema

import "testing"

func TestDedupeRows(t *testing.T) {
	row := func(trace, span byte, name string) SpanRow {
		return SpanRow{TraceID: [16]byte{trace}, SpanID: [8]byte{span}, Name: name}
	}
	rows := []SpanRow{
		row(1, 1, "first"),
		row(1, 2, "other span"),
		row(2, 1, "other trace"),
		row(1, 1, "second copy"),
		row(1, 2, "second copy"),
		row(3, 3, "last"),
	}
	got := DedupeRows(rows)
	want := []string{"first", "other span", "other trace", "last"}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Name != w {
			t.Errorf("row %d: got %q, want %q", i, got[i].Name, w)
		}
	}
	if rows[len(got)].Name != "" {
		t.Error("dropped rows not cleared")
	}
}

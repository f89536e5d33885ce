package live

import (
	"math"
	"testing"
)

// A table whose record count wraps empties itself and goes on finding and
// adding values: zeroed slots are free, not taken by a record numbered 0.
func TestValueTableWraps(t *testing.T) {
	var tab valueTable
	tab.reset()
	values := []byte("ab")
	if _, found := tab.findString("ab", values, 1, 0); found {
		t.Fatal("a value found in an empty table")
	}
	tab.gen = math.MaxUint32
	tab.reset()
	for i, n := range []uint64{7, 8, 7} {
		vid, found := tab.findNumber(tagInt, n, uint64(i))
		if want := i == 2; found != want || (found && vid != 0) {
			t.Fatalf("number %d: id %d found %v, want found %v", n, vid, found, want)
		}
	}
	if _, found := tab.findString("ab", values, 3, 0); found {
		t.Error("a string of the record before the wrap found after it")
	}
}

package schema

import (
	"strings"
	"testing"
	"unsafe"
)

// TestInterner checks that an Interner's strings are its own, one per
// short value, and that long values are copied each time.
func TestInterner(t *testing.T) {
	var in Interner
	short, long := []byte("service.name"), []byte(strings.Repeat("l", internMaxLen+1))
	a, b := in.Bytes(short), in.String(string(short))
	if a != "service.name" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatalf("a short value interned twice: %q at %p, %q at %p", a, unsafe.StringData(a), b, unsafe.StringData(b))
	}
	s := string(long)
	c, d := in.String(s), in.String(s)
	if c != s || unsafe.StringData(c) == unsafe.StringData(s) || unsafe.StringData(c) == unsafe.StringData(d) {
		t.Fatalf("a long value is not copied each time")
	}
	short[0] = 'x'
	if a != "service.name" {
		t.Fatalf("an interned string shares the bytes it came from: %q", a)
	}
	if in.Bytes(nil) != "" || in.String("") != "" {
		t.Fatal("the empty value is not empty")
	}
}

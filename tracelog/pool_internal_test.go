package tracelog

import (
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestByteClasses checks that a buffer got for n bytes holds them, is at
// most an eighth larger, and goes back to the class it came from.
func TestByteClasses(t *testing.T) {
	sizes := []int{0, 1, 4095, 4096, 4097, 4608, 4609, 8191, 8192, 8193, 100_000, 1 << 20, 1<<20 + 1, 1<<27 - 1, 1 << 27}
	for n := 4096; n < 1<<22; n = n*17/16 + 1 {
		sizes = append(sizes, n)
	}
	for _, n := range sizes {
		class, size, ok := byteClassUp(n)
		if !ok {
			t.Fatalf("byteClassUp(%d): not pooled", n)
		}
		if size < n || (n > 1<<minBytesShift && size > n+n/byteSteps) {
			t.Fatalf("byteClassUp(%d) = size %d", n, size)
		}
		if back, ok := byteClassDown(size); !ok || back != class {
			t.Fatalf("byteClassDown(%d) = %d, %v; want class %d of byteClassUp(%d)", size, back, ok, class, n)
		}
		// A larger buffer than the class's goes to the class or above.
		if back, ok := byteClassDown(size + 1); !ok || back < class {
			t.Fatalf("byteClassDown(%d) = %d, %v; want class %d or above", size+1, back, ok, class)
		}
	}
	if _, _, ok := byteClassUp(1<<maxBytesShift + 1); ok {
		t.Errorf("byteClassUp above the largest class: pooled")
	}
	for _, c := range []int{0, 4095, 1 << 28} {
		if class, ok := byteClassDown(c); ok {
			t.Errorf("byteClassDown(%d) = class %d; want not pooled", c, class)
		}
	}
}

// TestGetDecompressBytes checks that a snappy batch gets a buffer of its
// decoded size, class rounded, and that one given back serves again.
func TestGetDecompressBytes(t *testing.T) {
	p := newReaderPool()
	data := make([]byte, 50_000)
	for i := range data {
		data[i] = byte(i % 7)
	}
	compressed := s2.EncodeSnappy(nil, data)
	buf := p.GetDecompressBytes(compressed, kgo.CodecSnappy)
	_, size, _ := byteClassUp(len(data))
	if len(buf) != 0 || cap(buf) != size {
		t.Fatalf("buffer of len %d cap %d; want 0 and %d", len(buf), cap(buf), size)
	}
	out, err := s2.Decode(buf[:cap(buf)], compressed)
	if err != nil {
		t.Fatal(err)
	}
	if &out[0] != &buf[:1][0] {
		t.Errorf("decoding allocated: the buffer is too small")
	}
}

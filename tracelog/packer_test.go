package tracelog

import (
	"bytes"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"
)

func packRecord(partition, epoch int32, offset int64, value string) *kgo.Record {
	return &kgo.Record{Partition: partition, LeaderEpoch: epoch, Offset: offset, Value: []byte(value)}
}

func samePacked(a, b []byte) bool {
	return len(a) > 0 && len(b) > 0 && unsafe.SliceData(a) == unsafe.SliceData(b)
}

func checkPacked(t *testing.T, got []byte, value []byte) {
	t.Helper()
	dec, err := s2.Decode(nil, got)
	if err != nil {
		t.Fatalf("packed value does not decode: %v", err)
	}
	if !bytes.Equal(dec, value) {
		t.Fatalf("packed value decodes to %q, want %q", dec, value)
	}
}

func counted(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestPackerSharesEachValueWithItsSecondReader(t *testing.T) {
	p := NewPacker(1<<20, time.Hour, prometheus.NewRegistry())
	r := packRecord(3, 1, 42, "spans of a record, spans of a record")
	first, scratch := p.Pack(r, nil)
	checkPacked(t, first, r.Value)

	// The second reader has its own record, from its own fetch.
	again := packRecord(3, 1, 42, string(r.Value))
	second, _ := p.Pack(again, scratch)
	if !samePacked(first, second) {
		t.Fatal("the second reader compressed its own copy, want the first one's")
	}
	if n, b := p.waiting(); n != 0 || b != 0 {
		t.Fatalf("%d copies (%d bytes) wait after both readers took theirs, want none", n, b)
	}
	if c, s := counted(t, p.compressed), counted(t, p.shared); c != 1 || s != 1 {
		t.Fatalf("counted %v compressed and %v shared, want 1 and 1", c, s)
	}

	// A third reading (a tail reading the partition again) compresses anew.
	third, _ := p.Pack(again, nil)
	if samePacked(first, third) {
		t.Fatal("a copy was given out twice")
	}
	checkPacked(t, third, r.Value)
}

func TestPackerNeverGivesACopyOfAnotherValue(t *testing.T) {
	base := packRecord(0, 5, 7, "the value the copy was made from")
	for _, c := range []struct {
		name string
		r    *kgo.Record
	}{
		{"other partition", packRecord(1, 5, 7, string(base.Value))},
		{"other epoch", packRecord(0, 6, 7, string(base.Value))},
		{"other offset", packRecord(0, 5, 8, string(base.Value))},
		{"other value, same length", packRecord(0, 5, 7, "THE value the copy was made from")},
		{"other value, other length", packRecord(0, 5, 7, "another value")},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := NewPacker(1<<20, time.Hour, prometheus.NewRegistry())
			first, _ := p.Pack(base, nil)
			got, _ := p.Pack(c.r, nil)
			if samePacked(first, got) {
				t.Fatal("took the copy of another record's value")
			}
			checkPacked(t, got, c.r.Value)
		})
	}
}

func TestPackerKeepsItsWaitingCopiesWithinItsBound(t *testing.T) {
	const maxBytes = 8 << 10
	p := NewPacker(maxBytes, time.Hour, prometheus.NewRegistry())
	// 1,000 values of about 40 bytes compressed: the bound holds a few
	// hundred.
	value := bytes.Repeat([]byte("0123456789abcdef"), 64)
	var firsts [][]byte
	for i := range 1000 {
		// Distinct values, so that each copy is of some size.
		v := append([]byte(fmt.Sprintf("%08d", i)), value...)
		first, _ := p.Pack(&kgo.Record{Partition: 0, Offset: int64(i), Value: v}, nil)
		firsts = append(firsts, first)
		if _, b := p.waiting(); b > maxBytes+int64(cap(first)) {
			t.Fatalf("after %d values, %d bytes wait, want at most %d", i+1, b, maxBytes)
		}
	}
	// The newest are still there for their second reader, the oldest not.
	last := firsts[len(firsts)-1]
	got, _ := p.Pack(&kgo.Record{Partition: 0, Offset: 999, Value: append([]byte(fmt.Sprintf("%08d", 999)), value...)}, nil)
	if !samePacked(last, got) {
		t.Error("the newest copy was not kept for its second reader")
	}
	got, _ = p.Pack(&kgo.Record{Partition: 0, Offset: 0, Value: append([]byte(fmt.Sprintf("%08d", 0)), value...)}, nil)
	if samePacked(firsts[0], got) {
		t.Error("the oldest copy outlived the bound")
	}
}

func TestNilPackerCompressesEveryValue(t *testing.T) {
	var p *Packer
	r := packRecord(0, 0, 1, "a value, a value, a value")
	a, scratch := p.Pack(r, nil)
	b, _ := p.Pack(r, scratch)
	checkPacked(t, a, r.Value)
	checkPacked(t, b, r.Value)
	if samePacked(a, b) {
		t.Fatal("a nil Packer shared a copy")
	}
}

func TestPackerForgetsCopiesPastTheirAge(t *testing.T) {
	const maxAge = 10 * time.Second
	p := NewPacker(1<<20, maxAge, prometheus.NewRegistry())
	now := time.Unix(1_700_000_000, 0)
	p.now = func() time.Time { return now }

	old := packRecord(0, 0, 1, "a value read long ago")
	oldFirst, _ := p.Pack(old, nil)
	now = now.Add(maxAge / 4)
	recent := packRecord(0, 0, 2, "a value read a while ago")
	recentFirst, _ := p.Pack(recent, nil)
	// Past the age of old's generation: the next copy starts another.
	now = now.Add(maxAge/4 + time.Second)
	p.Pack(packRecord(0, 0, 3, "a value read now"), nil)
	if got, _ := p.Pack(packRecord(0, 0, 2, string(recent.Value)), nil); !samePacked(recentFirst, got) {
		t.Fatal("a copy younger than the age was not kept")
	}
	// Another generation later, old's is gone.
	now = now.Add(maxAge/2 + time.Second)
	p.Pack(packRecord(0, 0, 4, "a value read later"), nil)
	if n, _ := p.waiting(); n != 2 {
		t.Fatalf("%d copies wait, want the two newest", n)
	}
	if got, _ := p.Pack(packRecord(0, 0, 1, string(old.Value)), nil); samePacked(oldFirst, got) {
		t.Fatal("a copy older than the age was kept")
	}
}

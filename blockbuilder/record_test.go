package blockbuilder

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/schema"
)

// TestHoldKeepsNothingOfTheRecord holds a record, then overwrites its
// value and headers, as the reader's pooled batch memory is reused after
// the poll (tracelog.ReaderPools): what the builder holds is unchanged.
func TestHoldKeepsNothingOfTheRecord(t *testing.T) {
	value := bytes.Repeat([]byte("a span's bytes "), 1000)
	r := &kgo.Record{Partition: 3, Offset: 7, Value: bytes.Clone(value), Headers: []kgo.RecordHeader{
		{Key: schema.HeaderTenant, Value: []byte("acme")},
		{Key: schema.HeaderFormat, Value: []byte(schema.RecordFormatV1)},
	}}
	h, _ := hold(r, schema.RecordTenancy{Default: "default"}, nil, nil)
	for _, b := range append([][]byte{r.Value}, r.Headers[0].Value, r.Headers[1].Value) {
		for i := range b {
			b[i] = 'x'
		}
	}
	if h.invalid != nil || h.tenant != "acme" || h.foreign {
		t.Fatalf("held tenant %q, foreign %v, invalid %v; want acme, false, nil", h.tenant, h.foreign, h.invalid)
	}
	got, err := h.value(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, value) || h.size != int64(len(value)) {
		t.Fatalf("held value of %d bytes (size %d), not the record's", len(got), h.size)
	}
}

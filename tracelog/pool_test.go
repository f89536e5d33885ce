package tracelog_test

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/tracelog"
)

// TestReaderPools reads batches of many sizes, compressed, through a
// client with ReaderPools that recycles each poll's records once checked:
// every value read is the one written, though the batches' memory is
// reused.
func TestReaderPools(t *testing.T) {
	c := kafkatest.New(t)
	log := c.Log(t, 2)
	w, err := kgo.NewClient(append(log.ClientOpts("writer"), kgo.DefaultProduceTopic(log.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), log.ProducerCompression())...)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	value := func(i int) []byte {
		return bytes.Repeat([]byte{byte(i), byte(i >> 8), 'x'}, 1+(i*7919)%9000)
	}
	const n = 300
	for i := range n {
		// One record, or several, per batch.
		rs := []*kgo.Record{{Partition: int32(i % 2), Value: value(i)}}
		if i%3 == 0 {
			rs = append(rs, &kgo.Record{Partition: int32(i % 2), Value: value(i)})
		}
		if err := w.ProduceSync(t.Context(), rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	r, err := kgo.NewClient(append(log.ClientOpts("reader"), kgo.ConsumeTopics(log.Topic),
		kgo.FetchMaxBytes(64<<10), tracelog.ReaderPools())...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// What each partition holds, in order.
	want := make(map[int32][][]byte)
	for i := range n {
		p := int32(i % 2)
		want[p] = append(want[p], value(i))
		if i%3 == 0 {
			want[p] = append(want[p], value(i))
		}
	}
	read := 0
	for read < len(want[0])+len(want[1]) {
		fs := r.PollFetches(t.Context())
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if !bytes.Equal(rec.Value, want[rec.Partition][rec.Offset]) {
				t.Fatalf("partition %d offset %d: value of %d bytes, not the one written (%d bytes)",
					rec.Partition, rec.Offset, len(rec.Value), len(want[rec.Partition][rec.Offset]))
			}
			read++
		})
		tracelog.Recycle(fs)
	}
}

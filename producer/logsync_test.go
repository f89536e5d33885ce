package producer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spanlog/spanlog/internal/kafkatest"
)

// fakeLogSyncer answers Sync with sync, and keeps the partitions it was
// asked for.
type fakeLogSyncer struct {
	sync       func(ctx context.Context) error
	mu         sync.Mutex
	partitions []int32
}

func (f *fakeLogSyncer) Sync(ctx context.Context, partitions []int32) error {
	f.mu.Lock()
	f.partitions = append(f.partitions, partitions...)
	f.mu.Unlock()
	return f.sync(ctx)
}

// TestAckWaitsForLogSync checks that with a LogSyncer (the embedded Kafka's
// group commit), a client gets OK only once it synced every partition the
// request's records went to, and Unavailable when it fails or does not
// answer within the write timeout.
func TestAckWaitsForLogSync(t *testing.T) {
	const writeTimeout = time.Second
	for _, tc := range []struct {
		name string
		sync func(ctx context.Context) error
		want string // in the Unavailable message; "" for OK
	}{
		{"synced", func(context.Context) error { return nil }, ""},
		{"failed", func(context.Context) error { return errors.New("disk on fire") }, "sync the log: disk on fire"},
		{"no answer", func(ctx context.Context) error { <-ctx.Done(); return context.Cause(ctx) }, "write timeout"},
	} {
		for _, w := range ways() {
			t.Run(tc.name+"/"+w.name, func(t *testing.T) {
				syncer := &fakeLogSyncer{sync: tc.sync}
				cluster := kafkatest.New(t)
				d := startDistributor(t, cluster.Brokers(), func(s *testSetup) {
					s.cfg.WriteTimeout = writeTimeout
					s.logSyncer = syncer
				})
				o := w.send(t, d, testTraces(20, 2, 1))
				if tc.want != "" {
					checkUnavailable(t, o, tc.want, writeTimeout)
					return
				}
				if !o.ok {
					t.Fatalf("got %+v, want OK", o)
				}
				var written []int32
				for _, r := range readLog(t, cluster.Brokers(), kafkatest.Topic) {
					written = append(written, r.Partition)
				}
				slices.Sort(written)
				slices.Sort(syncer.partitions)
				if written = slices.Compact(written); !slices.Equal(syncer.partitions, written) {
					t.Errorf("synced partitions %v, records went to %v", syncer.partitions, written)
				}
			})
		}
	}
}

package querier

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/internal/kafkatest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/querier/internal/querytest"
	"github.com/spanlog/spanlog/tenant"
)

// stuckBucket holds every listing until release is closed, as an object
// store that is slow or down would.
type stuckBucket struct {
	objstore.Bucket
	release chan struct{}
}

func (b *stuckBucket) List(ctx context.Context, prefix string, fn func(string) error) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Bucket.List(ctx, prefix, fn)
}

// Ready means serving: a querier is ready once it has joined the log, and
// never waits for its first blocklist poll.
func TestReadyDoesNotWaitForTheBlocklist(t *testing.T) {
	ctx := context.Background()
	log := kafkatest.New(t).Log(t, 2)
	dir, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bkt := &stuckBucket{Bucket: dir, release: make(chan struct{})}
	q, err := New(soloConfig(), Deps{Kafka: log, Tenants: tenant.DefaultConfig(), Limits: querytest.NoLimits(t), BlocksGroup: "builders", Bucket: bkt, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- q.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	deadline := time.Now().Add(10 * time.Second)
	for q.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready while the blocklist poll hangs: %v", q.Ready())
		}
		time.Sleep(time.Millisecond)
	}
	waitCtx, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	if q.blocklist.WaitLoaded(waitCtx) == nil {
		t.Fatal("blocklist loaded although every listing hangs")
	}

	close(bkt.release)
	if err := q.blocklist.WaitLoaded(ctx); err != nil {
		t.Fatal(err)
	}
}

package querier

import (
	"context"

	"github.com/spanlog/spanlog/querier/live"
)

// Partial says why an answer may lack spans that were acked; the live
// tail's answers carry it between queriers, so querier/live owns it.
type Partial = live.Partial

func (q *Querier) newStorageWait() live.StorageWait {
	return live.NewStorageWait(q.cfg.StorageTimeout, q.metrics.storagePartial, q.logger)
}

// waitPolled waits for the blocklist's first complete poll.
func (q *Querier) waitPolled(ctx context.Context) error {
	select {
	case <-q.polled:
		return nil
	default:
	}
	select {
	case <-q.polled:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// blockFailed is the Partial of an answer that could not read a block;
// err names the block.
func (q *Querier) blockFailed(err error) Partial {
	q.metrics.storagePartial.Inc()
	q.logger.Warn("block unreadable; answering without it", "err", err)
	return Partial{Storage: err.Error()}
}
